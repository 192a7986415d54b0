"""The fast lane: port 10050's own protocol, serving plain message requests itself.

aiohttp's request and response objects and its middleware chain cost several times what a
message costs the rest of the daemon (reference perf-anchors.md §7: any design on them
stops at about 2.5× ejabberd's API). So every connection starts here. A plain POST to a
message endpoint (http1.parse_head) is served on the spot, with the same handlers, the same
credentials check, audit line, metrics, request id and envelope as the aiohttp path. Any
other request (another path, an Idempotency-Key) is lent to aiohttp, and the connection
comes back once aiohttp has answered it. A request whose extent the fast lane will not judge
(a chunked body, a malformed head) hands the connection, with every unread byte, to aiohttp
for the rest of its life (component/http/lending.py). Requests on one connection are served
one after another, as HTTP/1.1 wants; a handler is never cancelled, not even when its caller
goes away, so an accepted message is never half-accepted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web

from component.config import Config
from component.errors import ApiError
from component.http import audit
from component.http.auth import Gate, refusal
from component.http.call import Call, CallHandler
from component.http.envelope import Answer, failure_answer, unexpected_answer
from component.http.http1 import MAX_HEAD_BYTES, Answers, Head, parse_head
from component.http.lending import LentTransport
from component.metrics import Metrics

log = logging.getLogger("component.http.server")
IDLE_SECONDS = 75.0  # aiohttp's keep-alive timeout, so both lanes close idle peers alike


class FastLane:
    """What all fast connections share: handlers by path, the gate, metrics, settings."""

    def __init__(self, handlers: dict[str, CallHandler], slow_lane: Callable[[], Any], *,
                 prefix: str, max_body: int, always_200: bool, gate: Gate | None,
                 metrics: Metrics | None) -> None:
        self.routes = {(prefix + path).encode(): (path, prefix + path, handler)
                       for path, handler in handlers.items()}
        self.slow_lane = slow_lane  # aiohttp's protocol factory
        self.max_body = max_body
        self.always_200 = always_200
        self.gate = gate
        self.metrics = metrics
        self.answers = Answers()
        self.connections: set[FastConnection] = set()
        self.closing = False

    def __call__(self) -> FastConnection:
        return FastConnection(self)

    def sweep_idle(self) -> None:
        """Close connections that have been idle longer than IDLE_SECONDS."""
        cutoff = time.monotonic() - IDLE_SECONDS
        for connection in list(self.connections):
            if not connection.busy and connection.last_active < cutoff:
                connection.close()

    async def close(self, timeout: float) -> None:
        """Stop: idle connections close now, busy ones after their answer (bounded). Those
        lent to aiohttp are left to its own shutdown, which comes next."""
        self.closing = True
        for connection in list(self.connections):
            if not connection.busy:
                connection.close()
        deadline = time.monotonic() + timeout

        def ours() -> list[FastConnection]:
            return [c for c in self.connections if not c.lent]

        while ours() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        for connection in ours():
            connection.close()


async def listen(runner: web.AppRunner, handlers: dict[str, CallHandler], config: Config,
                 *, prefix: str, gate: Gate | None, metrics: Metrics | None
                 ) -> tuple[FastLane, asyncio.Server]:
    """Serve `config.http` with the fast lane in front of the runner's (set up) aiohttp app."""
    assert runner.server is not None, "the runner must be set up"
    lane = FastLane(handlers, runner.server, prefix=prefix,
                    max_body=config.limits.max_request_bytes,
                    always_200=config.http.always_200, gate=gate, metrics=metrics)
    server = await asyncio.get_running_loop().create_server(
        lane, config.http.bind, config.http.port, reuse_address=True)
    return lane, server


class FastConnection(asyncio.Protocol):
    def __init__(self, lane: FastLane) -> None:
        self.lane = lane
        self.transport: asyncio.Transport | None = None
        self.remote: str | None = None
        self.buffer = bytearray()
        self.busy = False  # a request is being answered (by us or by aiohttp)
        self.last_active = time.monotonic()
        self._lent: tuple[asyncio.Protocol, LentTransport] | None = None
        self._lent_for_good = False
        self._paused_reading = False
        self._eof = False

    @property
    def lent(self) -> bool:
        """aiohttp is serving this connection now."""
        return self._lent is not None

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.remote = peer[0] if isinstance(peer, tuple) else None
        self.lane.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self._lent_for_good and self._lent is not None:
            self._lent[0].data_received(data)
            return
        self.buffer += data
        if not self.busy:
            self._next()
        elif len(self.buffer) > self.lane.max_body + MAX_HEAD_BYTES and self.transport:
            self.transport.pause_reading()  # a pipelining peer: read on once answered
            self._paused_reading = True

    def eof_received(self) -> bool | None:
        self._eof = True
        if self._lent_for_good and self._lent is not None:
            if not self._lent[0].eof_received():
                self.close()  # what asyncio does when a protocol does not keep a half-open
        elif not self.busy:
            self.close()
        return True  # close once the answer in progress is written

    def pause_writing(self) -> None:
        if self._lent is not None:
            self._lent[0].pause_writing()

    def resume_writing(self) -> None:
        if self._lent is not None:
            self._lent[0].resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lane.connections.discard(self)
        self.transport = None
        if self._lent is not None:
            handler, lent = self._lent
            lent.returned = True
            handler.connection_lost(exc)

    def close(self) -> None:
        self.lane.connections.discard(self)
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    # -- requests --------------------------------------------------------------------------

    def _next(self) -> None:
        """Serve the next complete request in the buffer, or lend it to aiohttp."""
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEAD_BYTES:
                self._lend(None, len(buffer))
            elif self._eof:
                self.close()
            return
        head = parse_head(bytes(buffer[:end]))
        if head is None or head.content_length > self.lane.max_body:
            self._lend(None, len(buffer))  # aiohttp answers 413 and the odd ones
            return
        start = end + 4
        extent = start + head.content_length
        if len(buffer) < extent:
            return  # the rest of the body is on its way
        route = self.lane.routes.get(head.path) if head.plain else None
        if route is None:
            self._lend(head, extent)
            return
        body = bytes(buffer[start:extent])
        del buffer[:extent]
        self.busy = True
        asyncio.get_running_loop().create_task(self._serve(head, route, body))

    def _lend(self, head: Head | None, extent: int) -> None:
        """aiohttp serves the next request (its extent known from `head`), or everything
        from now on (no head)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        handler: asyncio.Protocol = self.lane.slow_lane()
        lent = LentTransport(transport, watch=head is not None,
                             head_request=head is not None and head.method == b"HEAD",
                             answered=self._take_back, untold=self._keep_lent,
                             closed=self._lent_closed)
        self._lent, self._lent_for_good, self.busy = (handler, lent), head is None, True
        handler.connection_made(lent)
        data = bytes(self.buffer[:extent])
        del self.buffer[:extent]
        if self._paused_reading and head is None:
            self._paused_reading = False
            transport.resume_reading()
        handler.data_received(data)
        if self._eof and head is None:
            handler.eof_received()

    def _take_back(self) -> None:
        """aiohttp has written its whole answer: the connection is the fast lane's again."""
        if self._lent is None:
            return
        handler, lent = self._lent
        self._lent = None
        lent.returned = True
        handler.connection_lost(None)  # ends its keep-alive wait for a next request
        self._done()

    def _keep_lent(self) -> None:
        """aiohttp's answer has no length to follow (chunked): the connection stays its own,
        with whatever the client sent meanwhile."""
        if self._lent is None:
            return
        self._lent_for_good = True
        data = bytes(self.buffer)
        self.buffer.clear()
        if self._paused_reading and self.transport is not None:
            self._paused_reading = False
            self.transport.resume_reading()
        if data:
            self._lent[0].data_received(data)
        if self._eof:
            self._lent[0].eof_received()

    def _lent_closed(self) -> None:
        """aiohttp closed the connection (Connection: close, a bad request): so do we."""
        self._lent = None
        self.close()

    async def _serve(self, head: Head, route: tuple[str, str, CallHandler],
                     body: bytes) -> None:
        lane = self.lane
        started = time.perf_counter()
        path, endpoint, handler = route
        rid = audit.sane_request_id(head.request_id)
        call = Call(body, head.wait, None, {})
        try:
            reply = await self._answer(call, handler, path, head.authorization)
        except Exception:  # the last resort, as the aiohttp error middleware
            log.exception("POST %s failed", endpoint)
            reply = unexpected_answer()
        seconds = time.perf_counter() - started
        audit.write_line(rid, call.integrator.name if call.integrator else "-", self.remote,
                         path, call.facts, reply.status, reply.errcode, seconds)
        status = 200 if lane.always_200 else reply.status
        if lane.metrics is not None:
            lane.metrics.observe_request(endpoint, status, seconds)
        keep_alive = head.keep_alive and not lane.closing
        if self.transport is not None:
            self.transport.write(lane.answers.encode(status, reply.body, rid, reply.headers,
                                                     keep_alive=keep_alive))
        if not keep_alive:
            self.close()
            return
        self._done()

    def _done(self) -> None:
        """An answer is written: read on."""
        self.busy = False
        self.last_active = time.monotonic()
        if self._eof and not self.buffer:
            self.close()
            return
        if self._paused_reading and self.transport is not None:
            self._paused_reading = False
            self.transport.resume_reading()
        if self.buffer or self._eof:
            self._next()

    async def _answer(self, call: Call, handler: CallHandler, path: str,
                      authorization: str | None) -> Answer:
        gate = self.lane.gate
        if gate is not None:
            try:
                call.integrator = gate.identify(authorization)
                gate.admit(call.integrator, self.remote, path)
            except ApiError as exc:
                log.info("POST /qtalk/%s from %s refused: %s", path, self.remote, exc.message)
                return refusal(exc, presented=authorization is not None)
        try:
            return await handler(call)
        except ApiError as exc:
            log.info("POST /qtalk/%s refused: %s", path, exc.message)
            return failure_answer(exc)
