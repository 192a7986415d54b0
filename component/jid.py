"""JIDs (RFC 7622), checked strictly before anything reaches the component link.

A malformed address in a stanza makes the server answer with an error at best; a stanza without
one makes ejabberd close the whole component stream. So every address is parsed here first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_PART_BYTES = 1023
# RFC 7622 §3.3.1: characters never allowed in a localpart, plus whitespace and controls.
_LOCAL_FORBIDDEN = re.compile(r"[\"&'/:<>@\s\x00-\x1f\x7f]")
_RESOURCE_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")
_LABEL = re.compile(r"^(?!-)[\w-]{1,63}(?<!-)$", re.UNICODE)


class JidError(ValueError):
    """Raised with a short reason when a string is not an acceptable JID."""


def is_valid_domain(domain: str) -> bool:
    if not domain or len(domain.encode()) > 253 or domain != domain.strip():
        return False
    return all(_LABEL.match(label) and "_" not in label for label in domain.split("."))


@dataclass(frozen=True, slots=True)
class Jid:
    local: str
    domain: str
    resource: str = ""

    @classmethod
    def parse(cls, text: str) -> Jid:
        """Parse and normalise (domain lower-cased) a JID, or raise JidError."""
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
        if local and (_LOCAL_FORBIDDEN.search(local) or len(local.encode()) > MAX_PART_BYTES):
            raise JidError(f"invalid localpart {local!r}")
        if _RESOURCE_FORBIDDEN.search(resource) or len(resource.encode()) > MAX_PART_BYTES:
            raise JidError("invalid resource")
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

    @property
    def bare(self) -> Jid:
        return Jid(self.local, self.domain) if self.resource else self

    def __str__(self) -> str:
        text = f"{self.local}@{self.domain}" if self.local else self.domain
        return f"{text}/{self.resource}" if self.resource else text
