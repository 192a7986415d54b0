"""What code above the component link needs of it, as Protocols: iqs from the component's own
JID, presences to rooms; and BoundedIq, which caps the iqs a bulk job keeps in flight.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from lxml import etree

from component.jid import Jid
from component.xmpp.stanza_values import Stanza


class IqPort(Protocol):
    """What the room services need of the component link: iqs from its own JID."""

    @property
    def jid(self) -> Jid: ...

    def new_id(self) -> str: ...

    async def request(self, stanza: Stanza) -> etree._Element:
        """Send an iq; the reply (result or error) element, or LinkDown / XmppTimeout."""


class MucPort(IqPort, Protocol):
    """Iqs, and presences to rooms (a server that creates rooms only on a join)."""

    def send(self, stanza: Stanza) -> None:
        """Write a checked stanza now; LinkDown when the link is down."""


class BoundedIq:
    """An IqPort that keeps at most `limit` iqs in flight (bulk jobs such as the resync)."""

    def __init__(self, port: MucPort, limit: int) -> None:
        self._port = port
        self._slots = asyncio.Semaphore(limit)

    @property
    def jid(self) -> Jid:
        return self._port.jid

    def new_id(self) -> str:
        return self._port.new_id()

    async def request(self, stanza: Stanza) -> etree._Element:
        async with self._slots:
            return await self._port.request(stanza)

    def send(self, stanza: Stanza) -> None:
        self._port.send(stanza)
