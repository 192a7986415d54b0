"""Port 10050's server over raw sockets: what clients and proxies expect of HTTP/1.1.

Each test writes bytes to a real loopback socket served by HttpServer and the pipeline (the
message routes over a RecordingSink), and reads the answers back with llhttp's response
parser, so nothing here depends on an HTTP client's own leniency.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httptools
import orjson
import pytest

from component.http.auth import Gate
from component.http.listener import HttpServer, ServerLimits
from component.http.protocol import MAX_HEAD_BYTES
from tests.unit.fakes import RecordingSink
from tests.unit.http_apps import integrator, make_config, message_app

TOKEN = "t0ken-of-the-tests"
CHAT = orjson.dumps({"From": "alice", "To": [{"User": "bob"}], "Body": "hi"})


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def envelope(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class _Replies:
    """llhttp's response parser callbacks, collecting every answer on a connection."""

    done: list[Reply] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    parser: Any = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode().lower()] = value.decode("latin-1")

    def on_body(self, chunk: bytes) -> None:
        self.body += chunk

    def on_message_complete(self) -> None:
        self.done.append(Reply(self.parser.get_status_code(), self.headers, bytes(self.body)))
        self.headers, self.body = {}, bytearray()


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.replies = _Replies()
        self.replies.parser = httptools.HttpResponseParser(self.replies)
        self.raw = b""

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read(self, count: int = 1, timeout: float = 5.0) -> list[Reply]:
        """The next `count` answers."""
        async with asyncio.timeout(timeout):
            while len(self.replies.done) < count:
                data = await self.reader.read(65536)
                assert data, f"closed after {len(self.replies.done)} answers: {self.raw!r}"
                self.raw += data
                self.replies.parser.feed_data(data)
        answers = self.replies.done[:count]
        del self.replies.done[:count]
        return answers

    async def closed(self, timeout: float = 5.0) -> bool:
        """True once the server has closed the connection (after any answers)."""
        async with asyncio.timeout(timeout):
            while data := await self.reader.read(65536):
                self.raw += data
                self.replies.parser.feed_data(data)
        return True

    def close(self) -> None:
        self.writer.close()


class Served:
    def __init__(self, server: HttpServer, sink: RecordingSink) -> None:
        self.server, self.sink = server, sink
        self.connections: list[Connection] = []

    async def connect(self) -> Connection:
        connection = Connection(*await asyncio.open_connection("127.0.0.1", self.server.port))
        self.connections.append(connection)
        return connection

    async def exchange(self, data: bytes, count: int = 1) -> list[Reply]:
        connection = await self.connect()
        await connection.send(data)
        return await connection.read(count)


LIMITS = ServerLimits(request_timeout=0.6, idle_timeout=0.8, max_connections=8)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async with serving(make_config(integrators=[integrator("hr", TOKEN)])) as handle:
        yield handle


class serving:  # used as `async with serving(config)`
    def __init__(self, config: Any, limits: ServerLimits = LIMITS,
                 gate: Gate | None = None) -> None:
        self.sink = RecordingSink()
        self.server = HttpServer(message_app(config, self.sink, gate=gate), limits)
        self.handle = Served(self.server, self.sink)
        self.deadlines: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Served:
        await self.server.listen("127.0.0.1", 0)
        self.deadlines = asyncio.create_task(self.server.run_deadlines())
        return self.handle

    async def __aexit__(self, *exc_info: object) -> None:
        for connection in self.handle.connections:
            connection.close()
        assert self.deadlines is not None
        self.deadlines.cancel()
        await self.server.close(1.0)


def post(path: str, body: bytes = CHAT, *, token: str | None = TOKEN, extra: str = "") -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (f"POST /qtalk/{path} HTTP/1.1\r\nHost: api\r\n{auth}"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def get(path: str, extra: str = "", method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: api\r\n{extra}\r\n".encode()


async def test_keep_alive_and_pipelining_answer_in_order(served: Served) -> None:
    requests = [post("send_message", extra=f"X-Request-Id: r{i}\r\n") for i in range(3)]
    replies = await served.exchange(b"".join([*requests, get("/healthz")]), 4)
    assert [r.status for r in replies] == [200, 200, 200, 200]
    assert [r.headers["x-request-id"] for r in replies[:3]] == ["r0", "r1", "r2"]
    assert replies[3].envelope["errmsg"] == "alive"
    assert all("connection" not in r.headers for r in replies)
    assert len(served.sink.sent) == 6  # three messages and their carbons


@pytest.mark.parametrize("request_bytes", [
    post("send_message", extra="Connection: close\r\n"),
    get("/healthz", "Connection: close\r\n"),
    post("no_such_path", extra="Connection: close\r\n"),
    post("send_message", token=None, extra="Connection: close\r\n"),
])
async def test_connection_close_is_honoured_on_every_route(served: Served,
                                                           request_bytes: bytes) -> None:
    connection = await served.connect()
    await connection.send(request_bytes + get("/healthz") + post("send_message"))
    (reply,) = await connection.read()
    assert reply.headers["connection"] == "close"
    assert await connection.closed()
    assert connection.replies.done == []  # the requests after `close` were not answered
    sent = 2 if reply.status == 200 and request_bytes.startswith(b"POST") else 0
    assert len(served.sink.sent) == sent  # nor run: a message and its carbon, of the first


async def test_http_1_0_closes_unless_kept_alive(served: Served) -> None:
    connection = await served.connect()
    await connection.send(b"GET /healthz HTTP/1.0\r\n\r\n")
    (reply,) = await connection.read()
    assert reply.status == 200
    assert await connection.closed()


async def test_head_has_the_length_but_no_body(served: Served) -> None:
    (whole,) = await served.exchange(get("/healthz"))
    connection = await served.connect()
    await connection.send(get("/healthz", method="HEAD"))
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += await asyncio.wait_for(connection.reader.read(65536), 5.0)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert f"Content-Length: {len(whole.body)}\r\n".encode() in head
    await connection.send(get("/healthz"))  # the same connection serves on
    (after,) = await connection.read()
    assert after.body == whole.body  # nothing of a body came before it


async def test_options_and_405_name_the_allowed_methods(served: Served) -> None:
    options, wrong = await served.exchange(
        get("/qtalk/send_message", f"Authorization: Bearer {TOKEN}\r\n", method="OPTIONS")
        + get("/qtalk/send_message", f"Authorization: Bearer {TOKEN}\r\n"), 2)
    assert (options.status, options.headers["allow"]) == (200, "OPTIONS, POST")
    assert (wrong.status, wrong.headers["allow"]) == (405, "OPTIONS, POST")
    assert wrong.envelope["errcode"] == 1007


async def test_expect_100_continue_only_after_the_gate(served: Served) -> None:
    connection = await served.connect()
    head = post("send_message", extra="Expect: 100-continue\r\n")[:-len(CHAT)]
    await connection.send(head)
    (interim,) = await connection.read()
    assert interim.status == 100
    await connection.send(CHAT)
    (reply,) = await connection.read()
    assert reply.status == 200

    refused = await served.connect()
    await refused.send(post("send_message", token="wrong",
                            extra="Expect: 100-continue\r\n")[:-len(CHAT)])
    (reply,) = await refused.read()
    assert (reply.status, reply.envelope["errcode"]) == (401, 1401)
    assert await refused.closed()  # its body is never read


async def test_expect_100_continue_waits_for_the_answers_before_it(served: Served) -> None:
    """A pipelined request's 100 (Continue) comes after the answers to those before it: an
    interim answer is read as one to the request whose answer is due."""
    connection = await served.connect()
    head = post("send_message", extra="Expect: 100-continue\r\n")[:-len(CHAT)]
    await connection.send(post("send_message") + head)
    (first,) = await connection.read()
    assert first.status == 200
    (interim,) = await connection.read()
    assert interim.status == 100
    await connection.send(CHAT)
    (reply,) = await connection.read()
    assert reply.status == 200


async def test_a_chunked_body_is_read(served: Served) -> None:
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part)
                      for part in (CHAT[:10], CHAT[10:])) + b"0\r\n\r\n"
    head = (f"POST /qtalk/send_message HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer {TOKEN}"
            "\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    (reply,) = await served.exchange(head + chunks)
    assert reply.status == 200
    assert served.sink.sent


SIGNED = (f"POST /qtalk/send_message HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer {TOKEN}"
          "\r\n").encode()
MALFORMED = {
    "control byte in a value": b"GET /healthz HTTP/1.1\r\nHost: api\r\nX-A: a\x01b\r\n\r\n",
    "NUL in a value": b"GET /healthz HTTP/1.1\r\nHost: api\r\nX-A: a\x00b\r\n\r\n",
    "bare LF": b"GET /healthz HTTP/1.1\nHost: api\n\n",
    "bare CR in a value": b"GET /healthz HTTP/1.1\r\nHost: api\rX: y\r\n\r\n",
    "no Host": b"GET /healthz HTTP/1.1\r\n\r\n",
    "two Hosts": b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "CL with TE": SIGNED + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two lengths": SIGNED + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "folded header": b"GET /healthz HTTP/1.1\r\nHost: api\r\nX-A: a\r\n b\r\n\r\n",
    "bad chunk size": SIGNED + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
    "space before colon": b"GET /healthz HTTP/1.1\r\nHost : api\r\n\r\n",
    "bad method": b"G\x01T /healthz HTTP/1.1\r\nHost: api\r\n\r\n",
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_head_is_400_then_close(served: Served, raw: bytes) -> None:
    connection = await served.connect()
    await connection.send(raw + get("/healthz"))
    (reply,) = await connection.read()
    assert (reply.status, reply.envelope["errcode"]) == (400, 1400)
    assert reply.headers["connection"] == "close"
    assert await connection.closed()
    assert served.sink.sent == []


async def test_an_upgrade_is_ignored_and_the_connection_closed(served: Served) -> None:
    connection = await served.connect()
    await connection.send(get("/healthz", "Connection: Upgrade\r\nUpgrade: h2c\r\n")
                          + b"PRI * HTTP/2.0\r\n\r\n")
    (reply,) = await connection.read()
    assert (reply.status, reply.headers["connection"]) == (200, "close")
    assert await connection.closed()


async def test_an_unknown_transfer_coding_is_501(served: Served) -> None:
    (reply,) = await served.exchange(
        SIGNED + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
    assert (reply.status, reply.envelope["errcode"]) == (501, 1400)


@pytest.mark.parametrize("extra", [
    "X-Big: " + "a" * MAX_HEAD_BYTES + "\r\n",
    "".join(f"X-{i}: {'b' * 90}\r\n" for i in range(MAX_HEAD_BYTES // 90)),
    "".join(f"X-{i}: 1\r\n" for i in range(1000)),
], ids=["one long header", "a long head in many lines", "a thousand headers"])
async def test_a_head_over_the_limit_is_431(served: Served, extra: str) -> None:
    connection = await served.connect()
    await connection.send(get("/healthz", extra))
    (reply,) = await connection.read()
    assert (reply.status, reply.envelope["errcode"]) == (431, 1005)
    assert await connection.closed()


async def test_a_head_just_under_the_limit_is_served(served: Served) -> None:
    (reply,) = await served.exchange(get("/healthz", "X-Big: " + "a" * 7900 + "\r\n"))
    assert reply.status == 200


async def test_413_and_401_come_from_the_head_before_the_body(served: Served) -> None:
    too_long = (f"POST /qtalk/send_message HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer "
                f"{TOKEN}\r\nContent-Length: {50 << 20}\r\n\r\n").encode()
    (reply,) = await served.exchange(too_long)  # not one byte of the body is sent
    assert (reply.status, reply.envelope["errcode"]) == (413, 1005)
    stranger = b"POST /qtalk/send_message HTTP/1.1\r\nHost: api\r\nContent-Length: 19000\r\n\r\n"
    connection = await served.connect()
    await connection.send(stranger)
    (reply,) = await connection.read()
    assert (reply.status, reply.envelope["errcode"]) == (401, 1401)
    assert await connection.closed()


async def test_a_chunked_body_over_the_limit_is_413(served: Served) -> None:
    head = (f"POST /qtalk/send_message HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer {TOKEN}"
            "\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    chunk = b"%x\r\n%s\r\n" % (30000, b"x" * 30000)  # the test limit is 20000 bytes
    connection = await served.connect()
    await connection.send(head + chunk)
    (reply,) = await connection.read()
    assert reply.status == 413
    assert await connection.closed()


async def test_a_slow_head_or_body_is_408_then_close(served: Served) -> None:
    slow_head = await served.connect()
    await slow_head.send(b"POST /qtalk/send_message HTTP/1.1\r\nHost: api\r\n")
    slow_body = await served.connect()
    await slow_body.send(post("send_message")[:-3])
    for connection in (slow_head, slow_body):
        (reply,) = await connection.read(timeout=3.0)
        assert (reply.status, reply.envelope["errcode"]) == (408, 1400)
        assert await connection.closed()
    assert served.sink.sent == []


async def test_an_idle_connection_is_closed(served: Served) -> None:
    silent = await served.connect()
    kept = await served.connect()
    await kept.send(get("/healthz"))
    await kept.read()
    for connection in (silent, kept):
        assert await connection.closed(timeout=3.0)
        assert connection.replies.done == []


async def test_connections_over_the_cap_are_refused_at_once() -> None:
    limits = ServerLimits(request_timeout=5.0, idle_timeout=5.0, max_connections=3)
    async with serving(make_config(), limits) as served:
        held = [await served.connect() for _ in range(3)]
        for connection in held:
            await connection.send(get("/healthz"))
            await connection.read()
        extra = await served.connect()
        (reply,) = await extra.read()
        assert (reply.status, reply.envelope["errcode"]) == (503, 2006)
        assert reply.headers["retry-after"] == "1"
        assert await extra.closed()
        held[0].close()
        await asyncio.sleep(0.05)
        (reply,) = await served.exchange(get("/healthz"))
        assert reply.status == 200


async def test_a_graceful_stop_answers_what_is_in_flight(served: Served) -> None:
    served.sink.delay = 0.3  # the message's route acknowledgement takes a while
    connection = await served.connect()
    port = served.server.port
    await connection.send(post("send_message"))
    await asyncio.sleep(0.05)
    closing = asyncio.create_task(served.server.close(3.0))
    (reply,) = await connection.read()
    assert reply.status == 200
    assert reply.headers["connection"] == "close"
    await closing
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_the_200_switch_applies_to_the_servers_own_answers() -> None:
    async with serving(make_config(http={"always_200": True})) as served:
        (reply,) = await served.exchange(b"GET /healthz HTTP/1.1\r\n\r\n")
        assert (reply.status, reply.envelope["errcode"]) == (200, 1400)


async def test_host_and_path_forms(served: Served) -> None:
    replies = await served.exchange(
        get("/healthz?x=1") + get("/qtalk/send_message/", f"Authorization: Bearer {TOKEN}\r\n")
        + get("/nope"), 3)
    assert [r.status for r in replies] == [200, 405, 404]


def broken_clock() -> float:
    """A gate with a fault of its own, in the clock its failed-token throttle reads: the fault
    is the daemon's, not the caller's."""
    raise RuntimeError("a bug in the gate")


async def test_a_fault_of_ours_while_reading_a_head_is_500_not_400(
        caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(integrators=[integrator("hr", TOKEN)])
    async with serving(config, gate=Gate(config.integrators, broken_clock)) as served:
        connection = await served.connect()
        await connection.send(post("send_message", token="not-a-token-of-ours"))
        (reply,) = await connection.read()
        assert (reply.status, reply.envelope["errcode"]) == (500, 5000)
        assert await connection.closed()
    assert "a bug in the gate" in caplog.text  # logged with its traceback, once
