"""The XEP-0114 component link: one raw asyncio connection to the XMPP server.

Handshake (XEP-0114 §3), hardened inbound parsing, coalesced writes with backpressure, iq
request/reply with timeouts, XEP-0199 pings as keepalive and as delivery barrier, reconnect
with exponential backoff and jitter, and a clean `</stream:stream>` on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import random
from collections.abc import Callable
from typing import Any, Final

from lxml import etree

from component.config import XmppConfig
from component.errors import BadRequest, DomainNotServed, LinkDown, XmppTimeout
from component.jid import Jid
from component.xmpp import stanzas
from component.xmpp.parser import StreamClosed, StreamOpened, StreamParser, StreamViolation
from component.xmpp.stanza_values import Stanza, StanzaKind

log: Final = logging.getLogger(__name__)
STREAM_ERROR: Final = "{http://etherx.jabber.org/streams}error"
HANDSHAKE: Final = "{jabber:component:accept}handshake"
# Bytes buffered in the transport before writers are paused; kernel buffers come on top.
WRITE_HIGH_WATER: Final = 256 << 10
BACKOFF_BASE: Final = 0.2
STABLE_AFTER: Final = 10.0  # a session that lived this long resets the backoff
ROUTE_PROBES: Final = 24  # with two links, the odds that none of them routes back are 2**-24


# What each kind of stanza starts with (built once: an f-string and its encoding per stanza
# were the larger part of the check).
OPENINGS: Final[dict[StanzaKind, bytes]] = {kind: f"<{kind} ".encode()
                                            for kind in ("message", "presence", "iq")}


def check_outbound(stanza: Stanza, own: Jid, is_served_host: Callable[[str], bool]) -> None:
    """Refuse a stanza the server would answer by closing the stream (DESIGN.md §2).

    Addresses are typed `Jid`s, so both are present and well-formed; what is left is who may
    be the sender: iqs only from our own JID (ejabberd routes replies to a spoofed sender to
    that user), messages and presences also from the served user domains.
    """
    kind, sender = stanza.kind, stanza.sender
    if sender.domain != own.domain:
        if kind == "iq":
            raise BadRequest("iqs are sent from the component's own JID only")
        if not is_served_host(sender.domain):
            raise DomainNotServed(f"from: domain {sender.domain} is not served by this API")
    elif kind == "iq" and sender.local:
        raise BadRequest("iqs are sent from the component's own JID only")
    if not stanza.data.startswith(OPENINGS[kind]):
        raise BadRequest(f"malformed {kind} stanza")


class LinkState(enum.Enum):
    DOWN = "down"
    CONNECTING = "connecting"
    UP = "up"
    STOPPED = "stopped"


class HandshakeRefused(Exception):
    """The server refused the stream or the handshake (wrong secret, unknown domain...)."""


class _Protocol(asyncio.Protocol):
    def __init__(self, link: ComponentLink) -> None:
        self.link = link
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.link._data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        self.link._set_writable(True)

    def pause_writing(self) -> None:
        self.link._set_writable(False)

    def resume_writing(self) -> None:
        self.link._set_writable(True)


class ComponentLink:
    """Owns the socket; the only code that writes stanzas to the server."""

    def __init__(self, config: XmppConfig, *, max_stanza_bytes: int,
                 is_served_host: Callable[[str], bool],
                 on_stanza: Callable[[etree._Element], None]) -> None:
        self.config = config
        self.domain_jid = Jid.parse(config.domain)
        # The address our iqs come from, so the server's replies come back to this link:
        # the bare domain, or with `balanced` a resource that ejabberd routes to this very
        # connection when several daemons share the domain (see _claim_route).
        self.jid = self.domain_jid
        self.server = Jid.parse(config.hosts[0])
        self._max_stanza_bytes = max_stanza_bytes
        self._is_served_host = is_served_host
        self._on_stanza = on_stanza
        self.state = LinkState.DOWN
        # Each state twice: an Event for those who wait for it, a bool for the checks on
        # every request (Event.is_set is a Python method, a call from compiled code).
        self.up = asyncio.Event()
        self._is_up = False
        self._writable = asyncio.Event()
        self._writable.set()
        self._can_write = True
        self._transport: asyncio.Transport | None = None
        self._parser = StreamParser(max_stanza_bytes)
        self._stream_id: asyncio.Future[str] | None = None
        self._handshake: asyncio.Future[None] | None = None
        self._buffer: list[bytes] = []
        self._flush_pending = False
        self._pending: dict[str, asyncio.Future[etree._Element]] = {}
        self._next_barrier: asyncio.Future[etree._Element] | None = None
        self._ids = itertools.count(1)
        self._id_prefix = f"qc{random.getrandbits(32):08x}-"
        self._task: asyncio.Task[None] | None = None
        # Captured at start: asyncio.get_running_loop() makes a getpid syscall each call,
        # and every flush and barrier would make one.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._up_listeners: list[Callable[[], None]] = []
        self._down_listeners: list[Callable[[], None]] = []
        self.reconnects = 0
        self.stanzas_sent = 0
        self.observe_iq: Callable[[float], None] | None = None  # seconds per iq round trip

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="component-link")

    async def stop(self, timeout: float = 2.0) -> None:
        """Close the stream properly: `</stream:stream>`, then wait for the server's close."""
        self.state = LinkState.STOPPED
        transport = self._transport
        if transport is not None and not transport.is_closing():
            self.flush()
            transport.write(stanzas.STREAM_END)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed(transport), timeout)
            transport.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def stopped(self) -> bool:
        return self.state is LinkState.STOPPED

    def on_up(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every successful handshake (a drop may have lost state)."""
        self._up_listeners.append(listener)

    def on_down(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever an established stream is lost."""
        self._down_listeners.append(listener)

    def new_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids)}"

    @staticmethod
    async def _closed(transport: asyncio.Transport) -> None:
        protocol = transport.get_protocol()
        assert isinstance(protocol, _Protocol)
        await protocol.lost

    async def _run(self) -> None:
        attempt = 0
        loop = asyncio.get_running_loop()
        while not self.stopped:
            started = loop.time()
            try:
                await self._session()
            except (OSError, HandshakeRefused, StreamViolation, TimeoutError) as exc:
                log.warning("component link to %s:%d failed: %s", self.config.server,
                            self.config.port, exc)
            if self.stopped:
                return
            attempt = 0 if loop.time() - started > STABLE_AFTER else attempt + 1
            delay = min(self.config.reconnect_max_delay, BACKOFF_BASE * 2 ** attempt)
            delay *= random.uniform(0.5, 1.0)
            log.info("reconnecting in %.2f s", delay)
            self.reconnects += 1
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        self.state = LinkState.CONNECTING
        loop = asyncio.get_running_loop()
        self._parser = StreamParser(self._max_stanza_bytes)
        self._stream_id, self._handshake = loop.create_future(), loop.create_future()
        transport, protocol = await asyncio.wait_for(loop.create_connection(
            lambda: _Protocol(self), self.config.server, self.config.port),
            self.config.iq_timeout)
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check here.
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self._transport = transport
        try:
            await self._open_stream(transport, protocol)
            if self.config.balanced:
                await self._claim_route(transport)
            if self.stopped:  # stop() came during the handshake: the stream is closing
                return
            self._went_up()
            keepalive = asyncio.create_task(self._keepalive(transport))
            try:
                await protocol.lost
            finally:
                keepalive.cancel()
        finally:
            self._went_down(transport)

    async def _open_stream(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        assert self._stream_id is not None
        assert self._handshake is not None
        transport.write(stanzas.stream_header(self.config.domain))
        stream_id = await self._before_loss(self._stream_id, protocol)
        transport.write(stanzas.handshake(stream_id, self.config.secret))
        await self._before_loss(self._handshake, protocol)

    async def _claim_route(self, transport: asyncio.Transport) -> None:
        """Find a resource of our domain whose replies the server routes to this connection.

        With several daemons on one domain, ejabberd spreads stanzas for the domain over the
        connections by `domain_balancing` (type `destination`: a hash of the full JID). So we
        ping the server from a few candidate resources at once and keep the first one whose
        pong comes back here; every later iq (barriers included) is sent from it.
        """
        loop = asyncio.get_running_loop()
        tag = f"{random.getrandbits(32):08x}"
        probes: dict[asyncio.Future[etree._Element], Jid] = {}
        for n in range(ROUTE_PROBES):
            candidate = self.domain_jid.with_resource(f"qc-{tag}-{n}")
            stanza_id = self.new_id()
            future: asyncio.Future[etree._Element] = loop.create_future()
            self._pending[stanza_id] = future
            probes[future] = candidate
            transport.write(stanzas.build_ping(candidate, self.server, stanza_id=stanza_id).data)
        done, _ = await asyncio.wait(probes, timeout=self.config.iq_timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        for future in probes:
            future.cancel()
        if not done:
            raise HandshakeRefused("no route back: check domain_balancing (type destination)")
        self.jid = probes[next(iter(done))]
        log.info("iqs go out as %s (a route the server balances to this link)", self.jid)

    async def _before_loss(self, step: asyncio.Future[Any], protocol: _Protocol) -> Any:
        done, _ = await asyncio.wait({step, protocol.lost}, timeout=self.config.iq_timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if step in done:
            return step.result()
        raise HandshakeRefused("connection closed during the handshake" if done
                               else "no answer to the handshake")

    def _went_up(self) -> None:
        self.state = LinkState.UP
        self._set_up(True)
        log.info("component link up as %s", self.config.domain)
        for listener in self._up_listeners:
            listener()

    def _went_down(self, transport: asyncio.Transport) -> None:
        transport.abort()
        self._transport = None
        self._buffer.clear()
        was_up = self._is_up
        self._set_up(False)
        if self.state is not LinkState.STOPPED:
            self.state = LinkState.DOWN
        failure = LinkDown("the component link dropped before the server answered")
        pending, self._pending = self._pending, {}
        if self._next_barrier is not None:
            pending["next-barrier"], self._next_barrier = self._next_barrier, None
        for future in pending.values():
            if not future.done():
                future.set_exception(failure)
                future.exception()  # a barrier nobody awaits must not log "never retrieved"
        if was_up:
            for listener in self._down_listeners:
                listener()

    async def _keepalive(self, transport: asyncio.Transport) -> None:
        """XEP-0199 ping to the server; no pong in time means a dead link."""
        while True:
            await asyncio.sleep(self.config.ping_interval)
            try:
                await asyncio.wait_for(asyncio.shield(self.barrier()), self.config.iq_timeout)
            except TimeoutError:
                log.warning("no pong within %.1f s: closing the link", self.config.iq_timeout)
                transport.abort()
                return
            except LinkDown:
                return

    # -- inbound -------------------------------------------------------------------------

    def _data_received(self, data: bytes) -> None:
        try:
            events = self._parser.feed(data)
        except StreamViolation as exc:
            log.error("closing the link: the server's stream broke the rules: %s", exc)
            if self._transport is not None:
                self._transport.abort()
            return
        for event in events:
            self._handle_event(event)

    def _handle_event(self, event: StreamOpened | StreamClosed | etree._Element) -> None:
        if isinstance(event, StreamOpened):
            self._resolve(self._stream_id, event.attributes.get("id", ""))
        elif isinstance(event, StreamClosed):
            if self._transport is not None:
                self._transport.close()
        elif event.tag == HANDSHAKE:
            self._resolve(self._handshake, None)
        elif event.tag == STREAM_ERROR:
            self._stream_error(event)
        elif etree.QName(event).localname == "iq" and event.get("type") in ("result", "error"):
            self._reply(event)
        else:
            try:
                self._on_stanza(event)
            except Exception:
                log.exception("inbound stanza handler failed")

    @staticmethod
    def _resolve(future: asyncio.Future[Any] | None, value: Any) -> None:
        if future is not None and not future.done():
            future.set_result(value)

    def _stream_error(self, element: etree._Element) -> None:
        conditions = [etree.QName(child).localname for child in element]
        reason = HandshakeRefused(f"stream error from the server: {' '.join(conditions)}")
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_exception(reason)
        log.error("%s", reason)

    def _reply(self, element: etree._Element) -> None:
        future = self._pending.pop(element.get("id", ""), None)
        if future is None:
            log.debug("unmatched iq reply %s", element.get("id"))
        elif not future.done():
            future.set_result(element)

    # -- outbound ------------------------------------------------------------------------

    def check_addresses(self, stanza: Stanza) -> None:
        check_outbound(stanza, self.domain_jid, self._is_served_host)

    def send(self, stanza: Stanza) -> None:
        """Queue a checked stanza for the next coalesced write; raises LinkDown when down."""
        check_outbound(stanza, self.domain_jid, self._is_served_host)  # check_addresses
        if self.state is not LinkState.UP:
            raise LinkDown("the component link is down")
        self._buffer.append(stanza.data)
        self.stanzas_sent += 1
        if not self._flush_pending:  # the turn's stanzas go in one write
            self._schedule_flush()

    async def writable(self) -> None:
        """Wait while the transport pushes back (the server is not reading fast enough)."""
        await self._writable.wait()

    def is_writable(self) -> bool:
        """Up, and the transport is not pushing back."""
        return self.state is LinkState.UP and self._can_write

    def is_up(self) -> bool:
        """`up.is_set()`."""
        return self._is_up

    def _set_up(self, up: bool) -> None:
        self._is_up = up
        if up:
            self.up.set()
        else:
            self.up.clear()

    def _set_writable(self, writable: bool) -> None:
        self._can_write = writable
        if writable:
            self._writable.set()
        else:
            self._writable.clear()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop if self._loop is not None else asyncio.get_running_loop()

    def _schedule_flush(self) -> None:
        if not self._flush_pending:
            self._flush_pending = True
            self._running_loop().call_soon(self._flush_due)

    def _flush_due(self) -> None:
        self._flush_pending = False
        self.flush()

    def flush(self) -> None:
        """Write what was sent so far, in one write: at the end of the loop turn
        (`_schedule_flush`), or sooner, when the caller knows no more comes in this turn
        (what is sent after it still leaves by the end of the turn)."""
        if self._next_barrier is not None:
            barrier, self._next_barrier = self._next_barrier, None
            ping_id = self.new_id()
            self._pending[ping_id] = barrier
            self._buffer.append(stanzas.build_ping(self.jid, self.server, stanza_id=ping_id).data)
        if self._buffer and self._transport is not None:
            self._transport.write(b"".join(self._buffer))
        self._buffer.clear()

    def barrier(self) -> asyncio.Future[etree._Element]:
        """A future resolved once the server has routed everything written before it.

        ejabberd handles one component stream in order, so the pong to a ping sent after a
        batch proves the batch was routed (measured: reference xmpp-servers.md §11).
        """
        if self.state is not LinkState.UP:
            raise LinkDown("the component link is down")
        if self._next_barrier is None:
            self._next_barrier = self._running_loop().create_future()
            self._schedule_flush()
        return self._next_barrier

    async def request(self, stanza: Stanza, timeout: float | None = None) -> etree._Element:
        """Send an iq and wait for its result or error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[etree._Element] = loop.create_future()
        self.send(stanza)
        self._pending[stanza.id] = future
        started = loop.time()
        try:
            reply = await asyncio.wait_for(future, timeout or self.config.iq_timeout)
            if self.observe_iq is not None:
                self.observe_iq(loop.time() - started)
            return reply
        except TimeoutError:
            raise XmppTimeout(f"no answer from {stanza.recipient} in time") from None
        finally:
            self._pending.pop(stanza.id, None)
