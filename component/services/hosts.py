"""The user domains the API may act for: the configured ones, and those added at runtime.

`add_host` (original-behaviour.md §2.13, §7) takes effect at once everywhere, because every
endpoint and the link's outbound check ask `is_served`; additions are kept in the store and
loaded again at start. A store shared by a cluster also tells every daemon of the hosts the
others add (`follow`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Protocol

from component.errors import BadField, SharedStateUnavailable
from component.jid import is_valid_domain

log: Final = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AddedHost:
    domain: str  # normalised: lower case, no trailing dot
    added: bool  # False: it was served already


class HostStorage(Protocol):
    async def all(self) -> list[str]: ...
    async def add(self, domain: str) -> None: ...

    async def watch(self, serve: Callable[[str], None]) -> None:
        """Call `serve` with each host added elsewhere, for as long as the daemon runs."""


class HostRegistry:
    def __init__(self, hosts: tuple[str, ...], muc_domain: str, *,
                 store: HostStorage | None = None, reserved: Iterable[str] = ()) -> None:
        self._hosts = list(hosts)
        self._served = set(hosts)
        self._muc_domain = muc_domain
        self._store = store
        self._reserved = {muc_domain, *reserved}

    @property
    def default_host(self) -> str:
        return self._hosts[0]

    @property
    def muc_domain(self) -> str:
        return self._muc_domain

    def is_served(self, domain: str) -> bool:
        # A Jid's domain is lower-case already, and hashed: a lower() copy is hashed anew.
        return domain in self._served or domain.lower() in self._served

    def hosts(self) -> list[str]:
        return list(self._hosts)

    async def load(self) -> None:
        """Serve again the domains added at runtime before the last restart."""
        if self._store is None:
            return
        try:
            domains = await self._store.all()
        except SharedStateUnavailable:
            log.warning("hosts added at runtime are served once the shared state is back")
            return  # `follow` reads them all again when it can listen
        for domain in domains:
            self._serve(domain)

    async def follow(self) -> None:
        """Serve the hosts other daemons add, as long as the daemon runs."""
        if self._store is not None:
            await self._store.watch(self._serve)

    async def add(self, domain: str) -> AddedHost:
        """Serve one more user domain; one served already is not an error."""
        domain = domain.strip().lower().rstrip(".")
        if not is_valid_domain(domain):
            raise BadField("host", f"{domain!r} is not a valid domain name")
        if domain in self._reserved:
            raise BadField("host", f"{domain} is the component's or the MUC service's domain")
        if domain in self._served:
            return AddedHost(domain, added=False)
        if self._store is not None:
            await self._store.add(domain)
        self._serve(domain)
        log.info("now serving user domain %s", domain)
        return AddedHost(domain, added=True)

    def _serve(self, domain: str) -> None:
        if domain not in self._served and domain not in self._reserved:
            self._hosts.append(domain)
            self._served.add(domain)
