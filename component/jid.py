"""JIDs (RFC 7622), checked strictly before anything reaches the component link.

A malformed address in a stanza makes the server answer with an error at best; a stanza without
one makes ejabberd close the whole component stream. So every address is parsed here first.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Final

from component.xmpp_prep import nodeprep, resourceprep

MAX_PART_BYTES: Final = 1023
_LABEL: Final = re.compile(r"^(?!-)[\w-]{1,63}(?<!-)$", re.UNICODE)


class JidError(ValueError):
    """Raised with a short reason when a string is not an acceptable JID."""


def is_valid_domain(domain: str) -> bool:
    if not domain or len(domain.encode()) > 253 or domain != domain.strip():
        return False
    return all(_LABEL.match(label) and "_" not in label for label in domain.split("."))


class Jid:
    """A prepared JID: made by `parse` or by the factories below, never from raw parts, so
    that every copy is equal to the one the server keeps (one JID normalisation). Immutable.

    Its `text`, as written in a stanza, is made with it and kept: a request writes the same
    addresses several times (its stanzas, its audit line), and parsed ones are shared (the
    cache below). Equal JIDs have equal texts and the other way round (no part may hold the
    separators), so the text is what equality and the hash compare; a str keeps its hash.
    A plain class, not a Struct: this module is compiled (setup.py says why).
    """

    local: Final[str]
    domain: Final[str]
    resource: Final[str]
    text: Final[str]

    def __init__(self, local: str, domain: str, resource: str = "") -> None:
        self.local = local
        self.domain = domain
        self.resource = resource
        text = f"{local}@{domain}" if local else domain
        self.text = f"{text}/{resource}" if resource else text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Jid) and self.text == other.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Jid({self.text!r})"

    def __str__(self) -> str:
        return self.text

    @staticmethod
    def parse(text: object) -> Jid:
        """Parse and prepare a JID as the server will (nodeprep, resourceprep), or raise
        JidError (for what is not a str too: callers pass what a request held)."""
        return _parse_remembered(text)

    @staticmethod
    def user(local: str, domain: str) -> Jid:
        """A bare user JID from its parts (the original API passes names and hosts apart)."""
        if "@" in local or "/" in local:
            raise JidError(f"invalid user name {local!r}")
        jid = _parse_remembered(f"{local}@{domain}")
        if not jid.local:
            raise JidError("empty user name")
        return jid

    @staticmethod
    def of_name(text: str, default_domain: str) -> Jid:
        """A user or room written as the original API takes it: `name` on `default_domain`,
        or a full `name@domain`."""
        return _parse_remembered(text if "@" in text else f"{text}@{default_domain}")

    def with_resource(self, resource: str) -> Jid:
        """This JID's bare part with `resource`, prepared (resourceprep), or JidError."""
        try:
            return Jid(self.local, self.domain, resourceprep(resource))
        except ValueError as exc:
            raise JidError(f"invalid resource {resource!r}: {exc}") from None

    @property
    def bare(self) -> Jid:
        return Jid(self.local, self.domain) if self.resource else self


def _parse(text: object) -> Jid:
    if not isinstance(text, str) or not text:
        raise JidError("empty address")
    bare, slash, resource = text.partition("/")
    local, at, domain = bare.rpartition("@")
    if at and not local:
        raise JidError("empty localpart")
    if slash and not resource:
        raise JidError("empty resource")
    domain = domain.lower()
    if not is_valid_domain(domain):
        raise JidError(f"invalid domain {domain!r}")
    try:
        local = nodeprep(local) if local else ""
        resource = resourceprep(resource) if resource else ""
    except ValueError as exc:
        raise JidError(f"invalid address {text!r}: {exc}") from None
    if len(local.encode()) > MAX_PART_BYTES or len(resource.encode()) > MAX_PART_BYTES:
        raise JidError("a part of the address is longer than 1023 bytes")
    return Jid(local, domain, resource)


# A request names the same few addresses several times (checks, builders, the store), and
# Jid is immutable: remembering the last parsed ones saves most of the work.
_parse_remembered: Callable[[object], Jid] = functools.lru_cache(maxsize=8192)(_parse)
