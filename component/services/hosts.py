"""The user domains the API may act for: the configured ones (runtime additions later)."""

from __future__ import annotations


class HostRegistry:
    def __init__(self, hosts: tuple[str, ...], muc_domain: str) -> None:
        self._hosts = list(hosts)
        self._muc_domain = muc_domain

    @property
    def default_host(self) -> str:
        return self._hosts[0]

    @property
    def muc_domain(self) -> str:
        return self._muc_domain

    def is_served(self, domain: str) -> bool:
        return domain.lower() in self._hosts

    def hosts(self) -> list[str]:
        return list(self._hosts)
