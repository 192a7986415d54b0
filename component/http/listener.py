"""Port 10050's listening socket: the connections it accepts, their deadlines, the answers'
bytes, and a graceful stop. Each connection is an HttpConnection (protocol.py)."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final

from component.http.envelope import Answer
from component.http.pipeline import Pipeline
from component.http.protocol import HttpConnection
from component.services.ports import PendingCommit

log: Final = logging.getLogger("component.http.server")


@dataclass(frozen=True, slots=True)
class ServerLimits:
    request_timeout: float   # seconds a request's head and body may take
    idle_timeout: float      # seconds a keep-alive connection may wait for its next request
    max_connections: int


class HttpServer:
    """The listening socket and every connection; `sweep` runs the deadlines."""

    def __init__(self, pipeline: Pipeline, limits: ServerLimits, *,
                 handed_over: Callable[[], None] | None = None) -> None:
        self.pipeline = pipeline
        self.limits = limits
        # Called once every handler a loop pass started has answered or waits: what they
        # handed over may be committed now (OutboxDelivery.commit_pending).
        self.handed_over = handed_over
        self.steps_due = 0  # connections' workers woken for the loop's next pass
        self.connections: set[HttpConnection] = set()
        self.closing = False
        self._server: asyncio.Server | None = None
        self.port = 0  # the bound port, once listening
        self._statuses = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode()
                          for s in HTTPStatus}
        self._date_at = 0.0  # the second (a float: compared with time.time()) of self._date
        self._date = b""
        # Connections whose answers wait for the end of the loop turn (HttpConnection.send).
        self.held: list[HttpConnection] = []
        self._writing_after: PendingCommit | None = None  # its answers leave together

    def pass_handled(self) -> None:
        """No worker is due in this loop pass any more (HttpConnection._serve)."""
        if self.handed_over is not None:
            try:
                self.handed_over()
            except Exception:  # the worker goes on; the pass's end commits what is left
                log.exception("handing a loop pass's requests over failed")

    def hold(self, connection: HttpConnection) -> None:
        """Write `connection`'s answers with the rest of the turn's: on the loop's next pass
        at the latest, and as soon as the transaction whose answers are being made has made
        them all (`write_after`)."""
        if not self.held:
            connection.loop.call_soon(self._send_held)
        self.held.append(connection)

    def write_after(self, commit: PendingCommit) -> None:
        """The answers held from now on leave once every answer `commit` releases is made,
        not a loop pass later: the next requests of their connections then come sooner, and
        more of them share each pass and each transaction (a pass's work and a commit's are
        the larger part of a request's under load: bench/RESULTS.md)."""
        if self._writing_after is not commit:
            self._writing_after = commit
            commit.then(self._send_held_after)

    def _send_held_after(self, committed: bool) -> None:
        self._writing_after = None
        self._send_held()

    def _send_held(self) -> None:
        held, self.held = self.held, []
        for connection in held:
            connection.send_held()

    async def listen(self, host: str, port: int) -> None:
        self._server = await asyncio.get_running_loop().create_server(
            lambda: HttpConnection(self), host, port, reuse_address=True)
        # Read through Any: typeshed says a tuple, uvloop gives a list, and compiled code
        # (setup.py) checks a declared type.
        server: Any = self._server
        self.port = int(server.sockets[0].getsockname()[1])

    async def run_deadlines(self) -> None:
        """Forever: close connections past their deadline, once a quarter second."""
        while True:
            await asyncio.sleep(0.25)
            self.sweep(time.monotonic())

    def sweep(self, now: float) -> None:
        for connection in list(self.connections):
            if connection.deadline and connection.deadline < now:
                connection.expire()

    async def close(self, grace: float) -> None:
        """Stop listening; idle connections close now, busy ones after their answer."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.close_when_idle()
        deadline = time.monotonic() + grace
        while self.connections and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        for connection in list(self.connections):
            connection.abort()

    def encode(self, reply: Answer, request_id: str, *, keep_alive: bool,
               with_body: bool = True) -> bytes:
        """The answer's bytes: status line, headers (a Date recomputed once a second)."""
        now = time.time()
        if not 0.0 <= now - self._date_at < 1.0:  # floats: an int() is a call (0.5k)
            second = int(now)
            self._date_at = float(second)
            self._date = b"Date: " + email.utils.formatdate(second, usegmt=True).encode() \
                + b"\r\n"
        head = (f"Content-Type: {reply.content_type}\r\nContent-Length: {len(reply.body)}\r\n"
                f"X-Request-Id: {request_id}\r\n")
        if reply.headers:
            head += "".join(f"{name}: {value}\r\n" for name, value in reply.headers.items())
        if not keep_alive:
            head += "Connection: close\r\n"
        line = self._statuses.get(reply.status) or f"HTTP/1.1 {reply.status} -\r\n".encode()
        return b"".join((line, self._date, head.encode("latin-1"), b"\r\n",
                         reply.body if with_body else b""))
