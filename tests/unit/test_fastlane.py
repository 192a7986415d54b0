"""The fast lane on a real loopback socket: it answers plain message requests exactly as the
aiohttp path does, and hands every other request, with its connection, to aiohttp."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from component.config import Config
from component.http.auth import Gate
from component.http.fastlane import FastLane, listen
from component.http.http1 import parse_head
from component.http.messages import MessageRoutes
from component.http.server import PREFIX
from component.metrics import Metrics
from component.services.messages import MessageService
from component.store.db import Database
from tests.unit.fakes import HOST, RecordingSink, hosts
from tests.unit.http_apps import bearer, integrator, make_config, message_app

GOOD = {"from": f"alice@{HOST}", "to": f"bob@{HOST}",
        "message": "<message type='chat'><body>hi</body></message>"}
AIOHTTP_SERVER_HEADER = "Server"  # aiohttp names itself; the fast lane does not


class Lanes:
    """The daemon's HTTP side over a recording sink: the fast lane in front of aiohttp."""

    def __init__(self, config: Config, sink: RecordingSink, db: Database | None) -> None:
        self.config, self.sink = config, sink
        self.metrics = Metrics()
        self.gate = Gate(config.integrators) if config.integrators else None
        self.app = message_app(config, sink, db, self.gate)
        service = MessageService(sink, hosts(), max_stanza_bytes=config.limits.max_stanza_bytes)
        self.handlers = MessageRoutes(service, config.limits).call_handlers()
        self.runner = web.AppRunner(self.app)
        self.lane: FastLane | None = None
        self.server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> Lanes:
        await self.runner.setup()
        self.lane, self.server = await listen(self.runner, self.handlers, self.config,
                                              prefix=PREFIX, gate=self.gate,
                                              metrics=self.metrics)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        assert self.lane is not None
        self.server.close()
        await self.lane.close(1.0)
        await self.runner.cleanup()

    async def raw(self, data: bytes, *, responses: int = 1) -> list[bytes]:
        """Write bytes on one connection; read that many answers (head and body each)."""
        port = int(self.url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(data)
        answers = []
        try:
            for _ in range(responses):
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                answers.append(head + await reader.readexactly(length))
        finally:
            writer.close()
        return answers


def config_with(**sections: Any) -> Config:
    return make_config(limits={"max_items": 5, "max_request_bytes": 20000,
                               "max_stanza_bytes": 4000}, **sections)


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def lanes(sink: RecordingSink, db: Database) -> AsyncIterator[Lanes]:
    async with Lanes(config_with(), sink, db) as running:
        yield running


def request(path: str, body: bytes, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def envelope(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), orjson.loads(body)


def ids_blanked(value: Any) -> Any:
    """Stanza ids are random: compare answers with them blanked out."""
    if isinstance(value, dict):
        return {k: "ID" if k == "id" else ids_blanked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [ids_blanked(v) for v in value]
    return value


BODIES: list[tuple[str, Any]] = [
    ("send_thirdmessage", GOOD),
    ("send_thirdmessage", [GOOD, {**GOOD, "to": "nobody@elsewhere.org"}]),
    ("send_thirdmessage", [{**GOOD, "message": "<iq/>"}]),
    ("send_thirdmessage", {**GOOD, "message": "<message><body>x</body"}),
    ("send_thirdmessage", b"{not json"),
    ("send_thirdmessage", b""),
    ("send_thirdmessage", [GOOD] * 6),
    ("send_xml", GOOD),
    ("send_message", {"From": "alice", "To": [{"User": "bob"}], "Body": "hi"}),
    ("send_message", {"From": "alice", "To": "bob", "Body": "hi"}),
    ("send_notify", {"from": f"alice@{HOST}", "to": [f"bob@{HOST}"], "category": "c"}),
]


@pytest.mark.parametrize(("path", "body"), BODIES)
async def test_same_answers_as_aiohttp(lanes: Lanes, path: str, body: Any) -> None:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    (fast,) = await lanes.raw(request(PREFIX + path, raw))
    assert AIOHTTP_SERVER_HEADER.encode() not in fast.partition(b"\r\n\r\n")[0]
    # the same request, with a header that sends it to aiohttp
    (slow,) = await lanes.raw(request(PREFIX + path, raw, "Connection: keep-alive, x-lane"))
    assert AIOHTTP_SERVER_HEADER.encode() in slow.partition(b"\r\n\r\n")[0]
    fast_status, fast_body = envelope(fast)
    slow_status, slow_body = envelope(slow)
    assert fast_status == slow_status
    assert ids_blanked(fast_body) == ids_blanked(slow_body)


async def test_keep_alive_then_handed_over_then_aiohttp_serves_the_rest(
        lanes: Lanes, sink: RecordingSink) -> None:
    good = orjson.dumps(GOOD)
    data = (request(PREFIX + "send_thirdmessage", good)
            + request(PREFIX + "send_thirdmessage", good)
            + request(PREFIX + "send_thirdmessage", good, "Idempotency-Key: k1")
            + request(PREFIX + "send_thirdmessage", good, "Idempotency-Key: k1")
            + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            + request(PREFIX + "send_thirdmessage", good)
            + b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
            + request(PREFIX + "send_thirdmessage", good))
    answers = await lanes.raw(data, responses=8)  # pipelined, in one write
    assert [int(a.split(b" ")[1]) for a in answers] == [200] * 8
    # aiohttp answers what is lent to it, and the fast lane takes the connection back
    assert [AIOHTTP_SERVER_HEADER.encode() in a for a in answers] == \
        [False, False, True, True, True, False, True, False]
    assert b"Idempotent-Replayed: true" in answers[3]
    assert len(sink.sent) == 5 * 2  # each message with its carbon; the replay sent nothing


async def test_a_head_request_is_answered_without_a_body_and_the_lane_reads_on(
        lanes: Lanes) -> None:
    port = int(lanes.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                 + request(PREFIX + "send_thirdmessage", orjson.dumps(GOOD)))
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    second = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert second.startswith(b"HTTP/1.1 200")
    assert AIOHTTP_SERVER_HEADER.encode() not in second
    writer.close()


async def test_a_body_in_pieces_and_chunked_bodies(lanes: Lanes, sink: RecordingSink) -> None:
    good = orjson.dumps(GOOD)
    port = int(lanes.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    whole = request(PREFIX + "send_thirdmessage", good)
    for piece in (whole[:10], whole[10:60], whole[60:-5], whole[-5:]):
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0.01)
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    await reader.readexactly(int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]))
    lent = request(PREFIX + "send_thirdmessage", good, "Idempotency-Key: pieces")
    for piece in (lent[:70], lent[70:]):  # lent to aiohttp only once it is all there
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0.02)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200")
    writer.close()
    chunked = (f"POST {PREFIX}send_thirdmessage HTTP/1.1\r\nHost: x\r\n"
               "Transfer-Encoding: chunked\r\n\r\n").encode() \
        + f"{len(good):x}\r\n".encode() + good + b"\r\n0\r\n\r\n"
    (answer,) = await lanes.raw(chunked)
    assert envelope(answer)[0] == 200
    assert len(sink.sent) == 6


async def test_too_large_unknown_path_and_wrong_method_go_to_aiohttp(lanes: Lanes) -> None:
    big = b"x" * 30000
    (answer,) = await lanes.raw(request(PREFIX + "send_thirdmessage", big))
    assert envelope(answer)[0] == 413
    (answer,) = await lanes.raw(request(PREFIX + "no_such_thing", b"{}"))
    assert envelope(answer)[0] == 404
    (answer,) = await lanes.raw(b"GET /qtalk/send_thirdmessage HTTP/1.1\r\nHost: x\r\n\r\n")
    assert envelope(answer)[0] == 405


async def test_request_ids_wait_and_connection_close(lanes: Lanes) -> None:
    good = orjson.dumps(GOOD)
    (answer,) = await lanes.raw(request(PREFIX + "send_thirdmessage?wait=0", good,
                                        "X-Request-Id: caller-id.1"))
    assert b"X-Request-Id: caller-id.1\r\n" in answer
    (answer,) = await lanes.raw(request(PREFIX + "send_thirdmessage?wait=99", good,
                                        "X-Request-Id: bad id\x7f"))
    assert envelope(answer)[1]["errcode"] == 1002  # wait out of range, as aiohttp says
    assert b"bad id" not in answer
    port = int(lanes.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request(PREFIX + "send_thirdmessage", good, "Connection: close"))
    everything = await asyncio.wait_for(reader.read(), 5)  # read to EOF: the server closed
    assert everything.startswith(b"HTTP/1.1 200")
    assert b"Connection: close" in everything
    writer.close()


async def test_metrics_count_fast_lane_requests(lanes: Lanes) -> None:
    for _ in range(3):
        await lanes.raw(request(PREFIX + "send_thirdmessage", orjson.dumps(GOOD)))
    text = lanes.metrics.render().decode()
    assert 'endpoint="/qtalk/send_thirdmessage",status="200"} 3.0' in text


async def test_credentials_rates_and_the_200_switch(sink: RecordingSink, db: Database) -> None:
    config = config_with(integrators=[integrator("hr", "secret-token", rate=2)],
                         http={"always_200": True})
    async with Lanes(config, sink, db) as lanes, aiohttp.ClientSession() as session:
        url = lanes.url + PREFIX + "send_thirdmessage"
        async with session.post(url, json=GOOD) as reply:
            assert reply.status == 200  # the switch
            assert (await reply.json())["errcode"] == 1401
            assert reply.headers["WWW-Authenticate"] == 'Bearer realm="qtalk"'
        codes = []
        for _ in range(3):  # a burst of 2 allowed, then 429, in either lane
            async with session.post(url, json=GOOD, headers=bearer("secret-token")) as reply:
                codes.append((await reply.json())["errcode"])
        async with session.post(url, json=GOOD, headers={
                **bearer("secret-token"), "Idempotency-Key": "k"}) as reply:
            codes.append((await reply.json())["errcode"])
        assert codes == [0, 0, 1429, 1429]
    assert len(sink.sent) == 4


@pytest.mark.parametrize("head", [
    b"POST /qtalk/send_message HTTP/1.0\r\nContent-Length: 2",
    b"POST /qtalk/send_message HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2",
    b"POST /qtalk/send_message HTTP/1.1\r\nContent-Length: +2",
    b"POST /qtalk/send_message HTTP/1.1\r\nContent-Length : 2",
    b"POST /qtalk/send_message HTTP/1.1\r\nContent-Length: 2\r\n folded",
    b"POST /qtalk/send_message HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked",
    b"POST /qtalk/send_message HTTP/1.1\r\nContent-Length: 2\r\nConnection: upgrade",
    b"POST /qtalk/send_message HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2",
    b"POST  /qtalk/send_message HTTP/1.1\r\nContent-Length: 2",
    b"POST qtalk/send_message HTTP/1.1\r\nContent-Length: 2",
])
def test_heads_of_uncertain_extent_are_aiohttps_for_good(head: bytes) -> None:
    assert parse_head(head) is None


@pytest.mark.parametrize("head", [
    b"GET /qtalk/send_message HTTP/1.1\r\nHost: x",
    b"POST /qtalk/send_message?wait=1&x=2 HTTP/1.1\r\nContent-Length: 2",
    b"POST /qtalk/send_message?wait=%31 HTTP/1.1\r\nContent-Length: 2",
    b"POST /qtalk/send_message HTTP/1.1\r\nContent-Length: 2\r\nIdempotency-Key: k",
])
def test_heads_lent_to_aiohttp_one_request_at_a_time(head: bytes) -> None:
    parsed = parse_head(head)
    assert parsed is not None
    assert not parsed.plain


def test_a_plain_head() -> None:
    head = parse_head(b"POST /qtalk/send_message?wait=0.5 HTTP/1.1\r\nHost: x\r\n"
                      b"content-length: 12\r\nConnection: close\r\nX-Request-Id: r1\r\n"
                      b"Authorization: Bearer t")
    assert head is not None
    assert (head.path, head.wait, head.content_length, head.keep_alive, head.authorization,
            head.request_id) == (b"/qtalk/send_message", "0.5", 12, False, "Bearer t", "r1")
    assert head.plain


async def _chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(b"no length to follow")
    await response.write_eof()
    return response


async def test_an_answer_without_a_length_keeps_the_connection_with_aiohttp(
        sink: RecordingSink, db: Database) -> None:
    lanes = Lanes(config_with(), sink, db)
    lanes.app.router.add_get("/chunked", _chunked)
    async with lanes:
        port = int(lanes.url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n"
                     + request(PREFIX + "send_thirdmessage", orjson.dumps(GOOD)))
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"Transfer-Encoding: chunked" in head
        await reader.readuntil(b"0\r\n\r\n")
        second = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert second.startswith(b"HTTP/1.1 200")
        assert AIOHTTP_SERVER_HEADER.encode() in second  # aiohttp's, for good now
        writer.close()
    assert len(sink.sent) == 2
