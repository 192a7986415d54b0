"""User keys for auth_uk: a user's web services check that a key really is theirs.

In Startalk the server minted a key at every login (original-behaviour.md §6). Here a user
asks the daemon for one with the `get-web-key` ad-hoc command from their own XMPP client
(the server vouches for the requester's JID): a random key with an expiry, of which the store
keeps only the SHA-256. Keys are scoped to a host: `u` is `user` (on the first configured
host) or `user@domain`, and a key of alice on one host says nothing about alice on another.
A deployment that still has Startalk's Redis may also have its login keys checked there
(keys.backend = "redis"); keys minted here always live in the store.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from component.errors import DomainNotServed, Forbidden
from component.jid import Jid, JidError
from component.services.ports import HostPolicy

MAX_KEY_CHARS = 512


class KeyStorage(Protocol):
    async def add(self, host: str, user: str, key_sha256: str, created_at: float,
                  expires_at: float) -> None: ...

    async def valid(self, host: str, user: str, key_sha256: str, now: float) -> bool: ...


class ExternalKeys(Protocol):
    """Keys minted elsewhere (Startalk's Redis), looked up by `user@domain`."""

    async def valid(self, name: str, key: str) -> bool: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class WebKey:
    user: Jid
    key: str
    expires_at: float  # seconds since the epoch


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


class KeyService:
    def __init__(self, store: KeyStorage, hosts: HostPolicy, *, ttl: float,
                 external: ExternalKeys | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._hosts = hosts
        self._ttl = ttl
        self._external = external
        self._clock = clock

    async def mint(self, user: Jid) -> WebKey:
        """A new key for a user of a served domain (the requester of get-web-key)."""
        if not user.local:
            raise Forbidden("keys are for users, not for servers or services")
        if not self._hosts.is_served(user.domain):
            raise DomainNotServed(f"domain {user.domain} is not served by this API")
        key = secrets.token_urlsafe(32)
        now = self._clock()
        expires_at = now + self._ttl
        await self._store.add(user.domain, user.local.lower(), key_hash(key), now, expires_at)
        return WebKey(user.bare, key, expires_at)

    def owner(self, u: str) -> Jid | None:
        """Whose key `u` names: `user` on the first host, or `user@domain`; None if malformed
        or on a domain this API does not serve."""
        try:
            jid = Jid.parse(u) if "@" in u else Jid.user(u, self._hosts.default_host)
        except JidError:
            return None
        if jid.resource or not jid.local or not self._hosts.is_served(jid.domain):
            return None
        return jid

    async def check(self, u: str, k: str) -> bool:
        """auth_uk: is `k` a live key of the user `u`?"""
        user = self.owner(u)
        if user is None or not k or len(k) > MAX_KEY_CHARS:
            return False
        local = user.local.lower()
        if await self._store.valid(user.domain, local, key_hash(k), self._clock()):
            return True
        return (self._external is not None
                and await self._external.valid(f"{local}@{user.domain}", k))

    async def close(self) -> None:
        if self._external is not None:
            await self._external.close()
