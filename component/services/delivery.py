"""Direct delivery over the link, acknowledged by a ping barrier (DESIGN.md §3)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from component.services.ports import DeliveryReport
from component.xmpp.link import ComponentLink
from component.xmpp.stanzas import Stanza


class LinkDelivery:
    """Writes a batch, then waits for the barrier that proves the server routed it."""

    def __init__(self, link: ComponentLink, ack_timeout: float) -> None:
        self._link = link
        self._ack_timeout = ack_timeout

    def check_addresses(self, stanza: Stanza) -> None:
        self._link.check_addresses(stanza)

    async def deliver(self, stanzas: Sequence[Stanza]) -> DeliveryReport:
        await self._link.writable()
        for stanza in stanzas:
            self._link.send(stanza)
        barrier = self._link.barrier()
        try:
            await asyncio.wait_for(asyncio.shield(barrier), self._ack_timeout)
        except TimeoutError:
            return DeliveryReport("sent")
        return DeliveryReport("routed")
