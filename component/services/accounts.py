"""Whether an account exists, asked of the XMPP server over the component link with the
bounce probe of `xmpp/accounts.py` (the quirk it works around is written down there)."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from lxml import etree

from component.errors import XmppError, XmppTimeout
from component.jid import Jid
from component.xmpp.accounts import ProbeType, build_account_probe, parse_bounce
from component.xmpp.stanza_values import Stanza


class ProbePort(Protocol):
    """What the probe needs of the component link."""

    @property
    def jid(self) -> Jid: ...

    def new_id(self) -> str: ...

    def send(self, stanza: Stanza) -> None: ...

    def barrier(self) -> asyncio.Future[etree._Element]: ...


class AccountProbe:
    def __init__(self, port: ProbePort, timeout: float, *,
                 message_type: ProbeType = "headline") -> None:
        self._port = port
        self._timeout = timeout
        self._message_type = message_type  # the server's: see xmpp/accounts.py
        self._probes: dict[str, asyncio.Future[str]] = {}

    def on_stanza(self, stanza: etree._Element) -> None:
        """Inbound messages and presences (Dispatcher.listen): catches probe bounces."""
        bounce = parse_bounce(stanza)
        if bounce is not None:
            future = self._probes.get(bounce.id)
            if future is not None and not future.done():
                future.set_result(bounce.condition)

    async def exists(self, user: Jid) -> bool:
        """True unless the server bounces a probe to the account as unknown."""
        probe = build_account_probe(self._port.jid, user, stanza_id=self._port.new_id(),
                                    message_type=self._message_type)
        bounced: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._probes[probe.id] = bounced
        try:
            self._port.send(probe)
            barrier = self._port.barrier()
            # Not wait_for: the barrier is shared with other senders and must not be canceled.
            waiting: set[asyncio.Future[Any]] = {bounced, barrier}
            done, _ = await asyncio.wait(waiting, timeout=self._timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._probes.pop(probe.id, None)
        if not done:
            raise XmppTimeout(f"no answer about {user} in time")
        if not bounced.done():
            barrier.result()  # raises if the link dropped before the pong
            return True
        condition = bounced.result()
        if condition == "service-unavailable":
            return False
        raise XmppError(f"account probe of {user}", condition=condition)
