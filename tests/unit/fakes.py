"""Fakes at the ports: a recording stanza sink, a fixed host policy, and an HTTP client
connection's far end."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from component.errors import ApiError
from component.jid import Jid
from component.services.hosts import HostRegistry
from component.services.ports import DeliveryReport
from component.store.vcards import VcardEntry
from component.xmpp.link import check_outbound
from component.xmpp.stanza_values import Stanza

HOST = "qtalk.test.org"
MUC = "conference.qtalk.test.org"
COMPONENT = "api.qtalk.test.org"


def hosts() -> HostRegistry:
    return HostRegistry((HOST, "other.test.org"), MUC)


class RecordingSink:
    """Records what would be written; checks addresses with the real link's rules."""

    def __init__(self, failure: ApiError | None = None) -> None:
        self.sent: list[Stanza] = []
        self.remembered: set[str] = set()
        self.failure = failure
        self.delay = 0.0  # seconds each delivery takes, as a slow server's acknowledgement
        self._registry = hosts()

    def check_addresses(self, stanza: Stanza) -> None:
        check_outbound(stanza, Jid.parse(COMPONENT), self._registry.is_served)

    async def accepted_before(self, keys: Sequence[str]) -> dict[str, str]:
        return {key: "routed" for key in keys if key in self.remembered}

    async def deliver(self, stanzas: Sequence[Stanza], *, wait: float | None = None,
                      remember: Sequence[str] = (), deferred: bool = False) -> DeliveryReport:
        if self.failure is not None:
            raise self.failure
        if self.delay:
            await asyncio.sleep(self.delay)
        self.sent.extend(stanzas)
        self.remembered.update(remember)
        return DeliveryReport("routed")


class NoUsers:
    """UserService's vCard source and account probe for tests of other routes: nobody
    has a vCard, nobody exists."""

    async def vcard(self, jid: Jid) -> VcardEntry:
        return VcardEntry(jid, found=False)

    async def exists(self, user: Jid) -> bool:
        return False


class WrittenTransport(asyncio.Transport):
    """A connection's far end that keeps what is written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed_after = -1  # how many writes came before close(); -1: not closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        self.closed_after = len(self.written)

    def abort(self) -> None:
        pass
