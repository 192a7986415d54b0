"""Handlers run in a task, the connection's worker (component/http/protocol.py `_answer`):
the libraries under them may need the current task, requests read ahead are answered in
order, and the worker ends with its connection. Answers leave at the end of the loop turn,
a connection's together (`HttpConnection.send`)."""

from __future__ import annotations

import asyncio

from component.http.envelope import Answer, success
from component.http.listener import HttpServer, ServerLimits
from component.http.protocol import HttpConnection
from component.http.route import GET, Request, Route
from component.http.server import make_pipeline
from component.services.delivery import _Group
from tests.unit.fakes import RecordingSink, WrittenTransport
from tests.unit.http_apps import make_config, message_app

LIMITS = ServerLimits(request_timeout=5, idle_timeout=5, max_connections=8)


async def written(transport: WrittenTransport, count: int) -> list[bytes]:
    """The first `count` answers written, apart (one write may carry several)."""
    for _ in range(100 * count):
        if len(answers_in(transport.written)) >= count:
            break
        await asyncio.sleep(0)
    return answers_in(transport.written)


def answers_in(writes: list[bytes]) -> list[bytes]:
    return [b"HTTP/1.1 " + answer for answer in b"".join(writes).split(b"HTTP/1.1 ")[1:]]


async def test_a_handler_that_needs_the_current_task_has_one() -> None:
    """redis-py wraps its connects and reads in `asyncio.timeout`, which refuses to run
    outside a task: a handler whose first step ran outside one failed every reconnection."""

    async def timed(request: Request) -> Answer:
        async with asyncio.timeout(1.0):
            await asyncio.sleep(0)
            return success({"task": asyncio.current_task() is not None})

    pipeline = make_pipeline(make_config(), [Route("timed", GET, timed, mutating=False)])
    connection = HttpConnection(HttpServer(pipeline, LIMITS))
    transport = WrittenTransport()
    connection.connection_made(transport)
    # From the loop, as a socket's data comes: not inside this test's own task.
    asyncio.get_running_loop().call_soon(connection.data_received,
                                         b"GET /qtalk/timed HTTP/1.1\r\nHost: api\r\n\r\n")
    [answer] = await written(transport, 1)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer
    assert answer.endswith(b'"data":{"task":true}}')


async def test_thousands_of_requests_read_ahead_are_answered_in_order() -> None:
    """Requests read while writing is paused are answered in order once it resumes."""
    server = HttpServer(message_app(make_config(), RecordingSink()), LIMITS)
    connection = HttpConnection(server)
    transport = WrittenTransport()
    connection.connection_made(transport)
    connection.pause_writing()
    count = 3000
    connection.data_received(b"".join(
        f"GET /healthz HTTP/1.1\r\nHost: api\r\nX-Request-Id: r{i}\r\n\r\n".encode()
        for i in range(count)))
    assert transport.written == []
    connection.resume_writing()
    answers = await written(transport, count)
    assert len(answers) == count
    assert [answer.split(b"X-Request-Id: ")[1].split(b"\r\n")[0] for answer in answers] \
        == [f"r{i}".encode() for i in range(count)]
    assert all(answer.startswith(b"HTTP/1.1 200 OK\r\n") for answer in answers)


async def test_one_worker_serves_a_connection_and_ends_with_it() -> None:
    """The requests of a keep-alive connection run in one task, parked between them; closing
    the connection, by either side, ends it (no task is left pending)."""
    seen: list[asyncio.Task[object] | None] = []

    async def which(request: Request) -> Answer:
        seen.append(asyncio.current_task())
        await asyncio.sleep(0)
        return success()

    pipeline = make_pipeline(make_config(), [Route("which", GET, which, mutating=False)])
    server = HttpServer(pipeline, LIMITS)
    loop = asyncio.get_running_loop()
    for ending in ("close", "connection_lost", "abort"):
        seen.clear()
        connection = HttpConnection(server)
        transport = WrittenTransport()
        connection.connection_made(transport)
        for count in (1, 2, 3):
            loop.call_soon(connection.data_received,
                           b"GET /qtalk/which HTTP/1.1\r\nHost: api\r\n\r\n")
            assert len(await written(transport, count)) == count
        assert len(seen) == 3
        assert seen[0] is not None
        assert seen.count(seen[0]) == 3
        worker = connection.worker
        assert worker is not None
        assert not worker.done()  # parked, waiting for the next
        if ending == "connection_lost":
            connection.connection_lost(None)
        else:
            getattr(connection, ending)()
        for _ in range(3):
            await asyncio.sleep(0)
        assert worker.done(), ending
        assert connection.worker is None, ending


async def test_a_turns_answers_leave_together_after_it() -> None:
    """Pipelined requests answered in one turn leave in one write, at the turn's end; an
    answer that closes the connection is written before the close."""
    server = HttpServer(message_app(make_config(), RecordingSink()), LIMITS)
    connection = HttpConnection(server)
    transport = WrittenTransport()
    connection.connection_made(transport)
    connection.data_received(b"GET /healthz HTTP/1.1\r\nHost: api\r\n\r\n" * 3)
    assert transport.written == []  # held to the turn's end
    answers = await written(transport, 3)
    assert len(transport.written) == 1
    assert len(answers) == 3
    connection.data_received(b"GET /healthz HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n")
    answers = await written(transport, 4)
    assert answers[3].startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Connection: close" in answers[3]
    assert transport.closed_after == 2  # the last answer, then the close


async def test_the_answers_a_commit_releases_leave_together_as_it_ends() -> None:
    """Answers waiting for one transaction are written once the last of them is made, in the
    commit's own call: not apart, and not a loop pass later (HttpServer.write_after)."""
    commit = _Group()

    async def held(request: Request) -> Answer:
        return Answer(200, 0, b"{}", after=commit)

    server = HttpServer(make_pipeline(make_config(), [Route("held", GET, held,
                                                            mutating=False)]), LIMITS)
    connections = [HttpConnection(server) for _ in range(3)]
    made_before_written: list[bool] = []

    class Observed(WrittenTransport):
        def write(self, data: bytes | bytearray | memoryview) -> None:
            super().write(data)  # the last answer is made before the first leaves
            made_before_written.append(bool(connections[-1].unsent))

    transports = [Observed() for _ in connections]
    for connection, transport in zip(connections, transports, strict=True):
        connection.connection_made(transport)
        connection.data_received(b"GET /qtalk/held HTTP/1.1\r\nHost: api\r\n\r\n")
    for _ in range(20):  # each handler has run and waits for the commit
        await asyncio.sleep(0)
    assert all(connection.busy for connection in connections)
    assert not any(transport.written for transport in transports)
    commit.end(True)  # no loop pass from here
    assert [len(answers_in(transport.written)) for transport in transports] == [1, 1, 1]
    assert made_before_written == [True, True, True]


def test_a_callback_added_while_a_commit_ends_comes_after_the_others() -> None:
    commit = _Group()
    calls: list[str] = []

    def first(committed: bool) -> None:
        calls.append("first")
        commit.then(lambda _: calls.append("added"))

    commit.then(first)
    commit.then(lambda committed: calls.append("second"))
    commit.end(True)
    assert calls == ["first", "second", "added"]
    commit.then(lambda committed: calls.append("after the end"))  # at once
    assert calls[-1] == "after the end"
