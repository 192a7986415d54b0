"""JIDs (RFC 7622), checked strictly before anything reaches the component link.

A malformed address in a stanza makes the server answer with an error at best; a stanza without
one makes ejabberd close the whole component stream. So every address is parsed here first.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import ClassVar

import msgspec

from component.xmpp_prep import nodeprep, resourceprep

MAX_PART_BYTES = 1023
_LABEL = re.compile(r"^(?!-)[\w-]{1,63}(?<!-)$", re.UNICODE)


class JidError(ValueError):
    """Raised with a short reason when a string is not an acceptable JID."""


def is_valid_domain(domain: str) -> bool:
    if not domain or len(domain.encode()) > 253 or domain != domain.strip():
        return False
    return all(_LABEL.match(label) and "_" not in label for label in domain.split("."))


class Jid(msgspec.Struct, frozen=True, gc=False):
    """A prepared JID: made by `parse` or by the factories below, never from raw parts, so
    that every copy is equal to the one the server keeps (one JID normalisation).

    Its `text`, as written in a stanza, is made with it and kept: a request writes the same
    addresses several times (its stanzas, its audit line), and parsed ones are shared (the
    cache below). A field derived from the others, so equality stays theirs; kept in a field
    rather than a cached attribute, a JID stays out of the collector's sight and small (the
    recipient check remembers up to 100,000 of them).
    """

    # Parse and prepare a JID as the server will (nodeprep, resourceprep), or raise
    # JidError: `_parse`, behind the cache below.
    parse: ClassVar[Callable[[str], Jid]]
    local: str
    domain: str
    resource: str = ""
    text: str = ""  # made by __post_init__ whatever is given

    def __post_init__(self) -> None:
        text = f"{self.local}@{self.domain}" if self.local else self.domain
        msgspec.structs.force_setattr(self, "text",
                                      f"{text}/{self.resource}" if self.resource else text)

    @classmethod
    def _parse(cls, text: str) -> Jid:
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
        return cls(local, domain, resource)

    @classmethod
    def user(cls, local: str, domain: str) -> Jid:
        """A bare user JID from its parts (the original API passes names and hosts apart)."""
        if "@" in local or "/" in local:
            raise JidError(f"invalid user name {local!r}")
        jid = cls.parse(f"{local}@{domain}")
        if not jid.local:
            raise JidError("empty user name")
        return jid

    @classmethod
    def of_name(cls, text: str, default_domain: str) -> Jid:
        """A user or room written as the original API takes it: `name` on `default_domain`,
        or a full `name@domain`."""
        return cls.parse(text if "@" in text else f"{text}@{default_domain}")

    def with_resource(self, resource: str) -> Jid:
        """This JID's bare part with `resource`, prepared (resourceprep), or JidError."""
        try:
            return Jid(self.local, self.domain, resourceprep(resource))
        except ValueError as exc:
            raise JidError(f"invalid resource {resource!r}: {exc}") from None

    @property
    def bare(self) -> Jid:
        return Jid(self.local, self.domain) if self.resource else self

    def __str__(self) -> str:
        return self.text


# A request names the same few addresses several times (checks, builders, the store), and
# Jid is immutable: remembering the last parsed ones saves most of the work. `Jid.parse` is
# the cache itself: a classmethod around it cost more than the cached lookup.
Jid.parse = staticmethod(functools.lru_cache(maxsize=8192)(Jid._parse))
