"""Port 10050's HTTP/1.1 connections: an asyncio protocol on httptools (llhttp).

llhttp parses; nothing of HTTP is parsed here. It refuses, in its strict default, what a
lenient proxy could read otherwise (bare CR or LF, control bytes in a header, obs-fold,
Content-Length beside Transfer-Encoding, two Content-Lengths, bad chunk sizes): each such
head is a 400 and the connection closes. This module adds what llhttp leaves to a server:
Host exactly once (HTTP/1.1), a limit on the whole head (431), 413 from the head alone,
`Expect: 100-continue` answered only once the head has passed the pipeline's gate, a
deadline for a request's head and body (408), an idle keep-alive timeout, a cap on open
connections (the excess answered 503 and closed at once), and a graceful stop (with the
listening socket in component/http/listener.py).

Requests on one connection are answered one after another, in order (pipelining); a
handler is never cancelled, not even when its caller goes away, so an accepted message is
never half-accepted. Aiohttp's server was measured at ~40 µs per request before any work,
a bare llhttp protocol at 12-16 (bench-floor, README "Performance").
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Final, NoReturn, cast

import httptools

from component.errors import (
    ApiError,
    BadHttp,
    HeadTooLarge,
    InternalError,
    Overloaded,
    RequestTimeout,
    TooLarge,
    UnsupportedCoding,
)
from component.http.envelope import Answer, after_commit, failure_answer
from component.http.route import Request

if TYPE_CHECKING:
    from component.http.listener import HttpServer

log: Final = logging.getLogger("component.http.server")
_monotonic: Final = time.monotonic  # held: a module's attribute is looked up per call

MAX_HEAD_BYTES: Final = 8192
CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
MAX_HEADERS: Final = 100
QUEUED_REQUESTS: Final = 16  # pipelined requests read ahead before reading pauses


class HttpConnection(asyncio.Protocol):
    """One client connection: llhttp's callbacks build requests, answered in order."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.pipeline = server.pipeline
        self.limits = server.limits
        self.transport: asyncio.Transport | None = None
        self.remote: str | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.deadline = 0.0        # monotonic time this connection expires at; 0: none
        self.queue: deque[tuple[Request, Answer | None, bool, float]] = deque()
        self.busy = False          # an answer is being made
        # The connection's worker: runs its handlers one after another, parked between them
        # (see _serve); None until the first handler.
        self.worker: asyncio.Task[None] | None = None
        self.job: tuple[Request, bool, float] | None = None  # the handler's request, for it
        self.parked: asyncio.Future[bool] | None = None  # True: a job; False: stop
        self.woken = False  # the worker has a step on its way (counted in server.steps_due)
        self.closing = False       # no request is read any more; close after the queue
        self.reading = True
        self.writing = True
        self.unsent: list[bytes] = []  # answers held to the end of the loop turn (`send`)
        # The request being read:
        self.receiving = False
        self.continue_due = False  # its 100 (Continue) waits for the answers before it
        self.target = b""
        self.headers: dict[str, str] = {}
        self.head_bytes = 0
        self.header_count = 0
        self.request: Request | None = None
        self.refused: Answer | None = None
        self.body: list[bytes] = []
        self.body_bytes = 0
        self.started = 0.0

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Captured once per connection: asyncio.get_running_loop() makes a getpid syscall on
        # every call (Python 3.11), and each request would make one to start its task.
        self.loop = asyncio.get_running_loop()
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.remote = peer[0] if isinstance(peer, tuple) else None
        server = self.server
        if server.closing or len(server.connections) >= server.limits.max_connections:
            busy = Overloaded("the daemon is stopping" if server.closing
                              else "too many open connections", retry_after=1)
            self.transport.write(server.encode(failure_answer(busy), "-", keep_alive=False))
            self.transport.close()
            return
        server.connections.add(self)
        self.deadline = _monotonic() + server.limits.request_timeout

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # The request is served as if it asked for no upgrade (RFC 9110 §7.8 lets a
            # server ignore one); what follows it is another protocol: read no further.
            self.closing = True
            if self.transport is not None:
                self.transport.pause_reading()
            if not self.busy and not self.queue:
                self.close()
        except httptools.HttpParserCallbackError as exc:
            if not self.closing:  # else a refusal of ours, raised inside a callback
                log.error("reading a request from %s failed", self.remote,
                          exc_info=exc.__context__ or exc)
                self._fail(InternalError("internal error; see the daemon's log"))
            return
        except httptools.HttpParserError as exc:
            self._fail(BadHttp(f"malformed HTTP request: {_reason(exc)}"))
            return
        except Exception:  # a fault of ours: the connection ends, the daemon goes on
            log.exception("reading a request from %s failed", self.remote)
            self._fail(InternalError("internal error; see the daemon's log"))
            return
        if self.receiving and self.request is None and self.head_bytes + len(self.target) \
                > MAX_HEAD_BYTES:
            self._fail(HeadTooLarge(f"request head over {MAX_HEAD_BYTES} bytes"))

    def eof_received(self) -> bool:
        self.closing = True
        if not self.busy and not self.queue:
            self.close()
        return True  # answer what was read, then close

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.transport = None
        self.closing = True
        self._unpark(False)

    def pause_writing(self) -> None:
        self.writing = False

    def resume_writing(self) -> None:
        self.writing = True
        self._next()

    # -- llhttp callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.closing:  # an answer read before closed the connection: read no further
            raise ConnectionClosed
        self.receiving = True
        # One clock for the deadline and the request's duration (perf_counter is the same
        # CLOCK_MONOTONIC on Linux): one call per request instead of two.
        self.started = _monotonic()
        self.deadline = self.started + self.limits.request_timeout
        self.target = b""
        self.headers = {}
        self.head_bytes = self.header_count = self.body_bytes = 0
        self.request = self.refused = None  # the body list is left empty by the last request

    def on_url(self, url: bytes) -> None:
        self.target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_count += 1
        self.head_bytes += len(name) + len(value) + 4
        if self.header_count > MAX_HEADERS or self.head_bytes + len(self.target) > MAX_HEAD_BYTES:
            self._stop(HeadTooLarge(
                f"request head over {MAX_HEAD_BYTES} bytes or {MAX_HEADERS} headers"))
        key = _NAMES.get(name)
        if key is None:
            key = name.decode("latin-1").lower()
            if len(_NAMES) < NAMES_KEPT:
                _NAMES[name] = key
        text = value.decode("latin-1")
        if key in self.headers:
            if key == "host":
                self._stop(BadHttp("more than one Host header"))
            text = f"{self.headers[key]}, {text}"
        self.headers[key] = text

    def on_headers_complete(self) -> None:
        parser, headers = self.parser, self.headers
        if "host" not in headers and parser.get_http_version() != "1.0":
            self._stop(BadHttp("an HTTP/1.1 request needs a Host header"))
        coding = headers.get("transfer-encoding")
        if coding is not None and coding.strip().lower() != "chunked":
            self._stop(UnsupportedCoding(
                f"transfer coding {coding!r} is not supported; send chunked or a length"))
        method = parser.get_method()
        request = self.request = self.pipeline.begin(
            _METHODS.get(method) or method.decode("ascii"), self.target.decode("latin-1"),
            headers, self.remote)
        length = headers.get("content-length")
        self.refused = self.pipeline.admit(request, int(length) if length else None)
        if self.refused is not None and (length not in (None, "0") or coding is not None):
            self._stop(self.refused)  # its body is never read: the connection ends with it
        elif "expect" in headers and headers["expect"].lower() == "100-continue" \
                and self.transport:
            if self.busy or self.queue:  # pipelined: after the answers before it (`_next`)
                self.continue_due = True
            else:
                self.send(CONTINUE)

    def on_body(self, chunk: bytes) -> None:
        self.body_bytes += len(chunk)
        assert self.request is not None, "llhttp gives the head before the body"
        limit = self.request.settings.max_body
        if self.body_bytes > limit:  # chunked: no length to judge before
            self._stop(TooLarge(f"request body too large: over {limit} bytes"))
        self.body.append(chunk)

    def on_message_complete(self) -> None:
        request = self.request
        assert request is not None
        self.receiving = self.continue_due = False  # its body is here: no 100 needed
        self.deadline = 0.0
        body = self.body
        if body:  # else the request's default, b""
            request.body = body[0] if len(body) == 1 else b"".join(body)
            body.clear()
        # After an upgrade llhttp reads no further: its answer closes the connection.
        keep_alive = self.parser.should_keep_alive() and not self.parser.should_upgrade()
        if self.busy or self.queue or not self.writing:
            self.queue.append((request, self.refused, keep_alive, self.started))
            if len(self.queue) > QUEUED_REQUESTS and self.transport is not None and self.reading:
                self.reading = False
                self.transport.pause_reading()
            if not self.busy:
                self._next()
        elif self._answer(request, self.refused, keep_alive, self.started):
            self._next()  # nothing waits before it (the rule): answered without the queue

    # -- answering ---------------------------------------------------------------------------

    def _next(self) -> None:
        """Answer the requests read, in order, each once the one before is written.

        A loop, not a call per answer: refusals, written at once, follow one another here,
        as many as were read ahead, without a frame each."""
        while not self.busy and self.writing:
            if not self.queue:
                if self.closing:
                    self.close()
                elif not self.receiving:
                    self.deadline = _monotonic() + self.limits.idle_timeout
                elif self.continue_due:  # the request being read is next: its 100 now
                    self.continue_due = False
                    self.send(CONTINUE)
                return
            request, refused, keep_alive, started = self.queue.popleft()
            if not self.reading and len(self.queue) < QUEUED_REQUESTS // 2 and self.transport:
                self.reading = True
                self.transport.resume_reading()
            if not self._answer(request, refused, keep_alive, started):
                return

    def _answer(self, request: Request, refused: Answer | None, keep_alive: bool,
                started: float) -> bool:
        """A refusal is written at once, a handler runs in the connection's worker task; True
        when the request is answered and the connection goes on (then `_next`).

        A task even for a handler that never waits: the libraries under the handlers need
        the current task (redis-py's timeouts are `asyncio.timeout`, which refuses to run
        outside one). A first step run here by hand, as Python 3.12's eager tasks do, saved
        ~10k instructions per request that does not wait, and made every Redis reconnection
        fail (tests/unit/test_http_tasks.py). One task per connection, not per request: a
        task's creation and end cost ~6k instructions more than waking a parked one (its
        registration in asyncio's set of all tasks is Python code)."""
        if refused is not None:
            return self._write(request, refused, keep_alive, started)
        self.busy = True
        self.job = (request, keep_alive, started)
        if self.worker is None:
            self.worker = self.loop.create_task(self._serve())
            self._count_step()
        else:  # parked, or about to look for this job (it called `_next`)
            self._unpark(True)
        return False

    async def _serve(self) -> None:
        """The worker: each job's handler, its answer, then the next job or a park.

        The last worker of a loop pass to park tells the server (`HttpServer.pass_handled`):
        what the pass's handlers handed over is committed then, and their answers leave in
        that pass; this worker's next request may come of it."""
        try:
            while True:
                self._stepped()
                job, self.job = self.job, None
                if job is None:  # park: wait for `_answer`, or for the connection's end
                    if self.transport is None:
                        return
                    if not self.server.steps_due:
                        self.server.pass_handled()
                        if self.job is not None:
                            continue
                    parked = self.parked = self.loop.create_future()
                    if not await parked:
                        return
                    continue
                request, keep_alive, started = job
                reply = await self.pipeline.run(request)
                if reply.after is not None:  # it leaves once its transaction has ended
                    reply.after.then(functools.partial(
                        self._committed, request, reply, keep_alive, started))
                    continue  # to park, unless that was at once
                self.busy = False
                if self._write(request, reply, keep_alive, started):
                    self._next()  # may give it the next job at once
                elif self.job is None:
                    return
        finally:
            self._stepped()
            self.worker = self.parked = None

    def _committed(self, request: Request, reply: Answer, keep_alive: bool, started: float,
                   committed: bool) -> None:
        """The answer whose messages' transaction has ended, from the outbox's commit.

        Called back, not awaited by the handler: a wait of its own cost each request a
        future and its task's wake-up through the handler's frames (4k instructions of
        bench.hotpath's 186k, counted side by side); the worker parks meanwhile, as between
        requests. The answers of a transaction are made one after the other, and written
        together once all are made (`HttpServer.write_after`)."""
        self.busy = False
        if reply.after is not None:
            self.server.write_after(reply.after)
        if self._write(request, after_commit(reply, committed), keep_alive, started):
            self._next()

    def _unpark(self, job: bool) -> None:
        parked, self.parked = self.parked, None
        if parked is not None and not parked.done():
            parked.set_result(job)
            self._count_step()

    def _count_step(self) -> None:
        """The worker will run in the loop's next pass."""
        if not self.woken:
            self.woken = True
            self.server.steps_due += 1

    def _stepped(self) -> None:
        """The worker runs (or ends): no step of it is on its way any more."""
        if self.woken:
            self.woken = False
            self.server.steps_due -= 1

    def _write(self, request: Request, reply: Answer, keep_alive: bool, started: float) -> bool:
        """Write the answer; False when it closed the connection."""
        reply = self.pipeline.finish(request, reply, started)
        keep_alive = keep_alive and not self.server.closing and not (
            self.closing and not self.queue)
        if self.transport is not None:
            self.send(self.server.encode(
                reply, request.request_id, keep_alive=keep_alive,
                with_body=request.method != "HEAD"))
        if not keep_alive:
            self.closing = True
            self.queue.clear()
            self.close()
        return keep_alive

    def send(self, data: bytes) -> None:
        """Bytes for the client, written with every connection's at the end of the loop turn,
        or, for the answers a commit releases, once the last of them is made.

        The answers a commit releases are made one after another (`_committed`); written as
        each is made, each write woke the load's reader anew (a wake-up of a sleeping reader
        is most of a write's kernel time: bench/RESULTS.md). Written together, the first wakes
        it and the rest find it awake; a connection's pipelined answers leave in one write."""
        if not self.unsent:
            self.server.hold(self)
        self.unsent.append(data)

    def send_held(self) -> None:
        if self.transport is not None:
            self.transport.write(b"".join(self.unsent))  # one answer: the same bytes
        self.unsent.clear()

    # -- refusals, deadlines and closing ---------------------------------------------------

    def _stop(self, refusal: ApiError | Answer) -> NoReturn:
        """Inside a callback: answer, close, and stop llhttp (it raises to data_received)."""
        if isinstance(refusal, ApiError):
            self._fail(refusal)
        else:
            assert self.request is not None
            self._answer_and_close(self.request, refusal)
        raise httptools.HttpParserError("refused")

    def _fail(self, error: ApiError) -> None:
        """A request the server itself refuses: answered after those before it, then close."""
        request = self.request or self.pipeline.begin("-", "-", self.headers, self.remote)
        self._answer_and_close(request, failure_answer(error))

    def _answer_and_close(self, request: Request, reply: Answer) -> None:
        if self.closing:
            return
        log.info("%s from %s refused: %s", request.path, self.remote,
                 reply.body[:200].decode("utf-8", "replace"))
        self.closing = True
        self.receiving = False
        self.deadline = 0.0
        if self.transport is not None:
            self.transport.pause_reading()
        self.queue.append((request, reply, False, self.started or _monotonic()))
        if not self.busy:
            self._next()

    def expire(self) -> None:
        """The deadline passed: 408 for a request being read, else close quietly."""
        if self.receiving:
            self._fail(RequestTimeout(
                f"request not received within {self.limits.request_timeout:g} s"))
            self.deadline = _monotonic() + 1.0  # the 408 has a second to leave
        elif self.busy or self.queue:
            self.deadline = 0.0
        else:
            self.close()

    def close_when_idle(self) -> None:
        self.closing = True
        if not self.busy and not self.queue:
            self.close()

    def close(self) -> None:
        self.server.connections.discard(self)
        self.deadline = 0.0
        self._unpark(False)
        if self.transport is not None:
            self.send_held()  # closing writes what is held first
            self.transport.close()
            self.transport = None

    def abort(self) -> None:
        self.server.connections.discard(self)
        self._unpark(False)
        if self.transport is not None:
            self.transport.abort()
            self.transport = None


class ConnectionClosed(Exception):
    """Raised in llhttp's callback to stop reading a connection an answer closed."""


# Header names as llhttp gives them, and their keys (decoded, lower case): the names clients
# send are few, and a lookup costs less than a decode and a lower; bounded, as any client may
# send names of its own.
NAMES_KEPT: Final = 256
_NAMES: Final[dict[bytes, str]] = {}
# The methods as str without a decode each time (others are decoded).
_METHODS: Final = {method.encode(): method for method in
                   ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")}


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
