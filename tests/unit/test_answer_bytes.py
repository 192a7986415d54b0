"""An answer's bytes as the server writes them (HttpServer.encode): the status line, the
headers in their order, a Date made once a second, the body."""

from __future__ import annotations

import time

import pytest

from component.http.envelope import Answer
from component.http.listener import HttpServer, ServerLimits
from tests.unit.fakes import RecordingSink
from tests.unit.http_apps import make_config, message_app

LIMITS = ServerLimits(request_timeout=5, idle_timeout=5, max_connections=8)
BODY = b'{"ret":true,"errcode":0,"errmsg":"success","data":""}'


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1_700_000_000.25]
    monkeypatch.setattr(time, "time", lambda: now[0])  # as listener.py reads it
    return now


def test_the_answer_bytes_are_pinned(clock: list[float]) -> None:
    server = HttpServer(message_app(make_config(), RecordingSink()), LIMITS)
    date = b"Date: Tue, 14 Nov 2023 22:13:20 GMT\r\n"
    assert server.encode(Answer(200, 0, BODY), "r1", keep_alive=True) == (
        b"HTTP/1.1 200 OK\r\n" + date + b"Content-Type: application/json; charset=utf-8\r\n"
        b"Content-Length: 53\r\nX-Request-Id: r1\r\n\r\n" + BODY)
    refused = Answer(503, 1, BODY, {"Retry-After": "5"})
    assert server.encode(refused, "r2", keep_alive=False, with_body=False) == (
        b"HTTP/1.1 503 Service Unavailable\r\n" + date + b"Content-Type: application/json; "
        b"charset=utf-8\r\nContent-Length: 53\r\nX-Request-Id: r2\r\nRetry-After: 5\r\n"
        b"Connection: close\r\n\r\n")
    assert server.encode(Answer(299, 0, b"", content_type="text/plain"), "r3",
                         keep_alive=True) == (
        b"HTTP/1.1 299 -\r\n" + date + b"Content-Type: text/plain\r\nContent-Length: 0\r\n"
        b"X-Request-Id: r3\r\n\r\n")


@pytest.mark.parametrize(("later", "date"), [
    (1_700_000_000.999, b"Date: Tue, 14 Nov 2023 22:13:20 GMT"),
    (1_700_000_001.0, b"Date: Tue, 14 Nov 2023 22:13:21 GMT"),
    (1_699_999_999.99, b"Date: Tue, 14 Nov 2023 22:13:19 GMT"),  # the clock set back
])
def test_the_date_follows_the_clock_s_second(clock: list[float], later: float,
                                             date: bytes) -> None:
    server = HttpServer(message_app(make_config(), RecordingSink()), LIMITS)
    assert b"Date: Tue, 14 Nov 2023 22:13:20 GMT\r\n" in \
        server.encode(Answer(200, 0, BODY), "r1", keep_alive=True)
    clock[0] = later
    assert date + b"\r\n" in server.encode(Answer(200, 0, BODY), "r1", keep_alive=True)
