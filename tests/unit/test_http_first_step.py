"""A handler's first step runs outside a task (component/http/protocol.py `_answer`); once it
waits, `_resumed` hands the rest to a task: it must then go on as if the task had run it
from the start, whatever it waits on (a future, a bare yield) and whatever is thrown in."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from component.http.listener import HttpServer, ServerLimits
from component.http.protocol import HttpConnection, _resumed
from tests.unit.fakes import RecordingSink
from tests.unit.http_apps import make_config, message_app


def first_step(run: Coroutine[object, None, str]) -> object:
    """What `_answer` does: one step outside any task."""
    return run.send(None)


async def test_a_coroutine_waiting_on_a_future_goes_on_in_a_task() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    async def handler() -> str:
        await asyncio.sleep(0)  # a bare yield first, then a future
        return "got " + await future

    run = handler()
    task = asyncio.ensure_future(_resumed(run, first_step(run)))
    await asyncio.sleep(0)
    assert not task.done()
    future.set_result("it")
    assert await task == "got it"


async def test_a_failure_after_the_first_step_is_the_task_s() -> None:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def handler() -> str:
        await future
        raise LookupError("after the wait")

    run = handler()
    task = asyncio.ensure_future(_resumed(run, first_step(run)))
    future.set_result(None)
    with pytest.raises(LookupError, match="after the wait"):
        await task


async def test_a_cancellation_reaches_the_coroutine_where_it_waits() -> None:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    seen: list[str] = []

    async def handler() -> str:
        try:
            await future
        except asyncio.CancelledError:
            seen.append("cancelled")
            return "cleaned up"
        return "not cancelled"

    run = handler()
    task = asyncio.ensure_future(_resumed(run, first_step(run)))
    await asyncio.sleep(0)  # the task waits on the future
    task.cancel()
    assert await task == "cleaned up"
    assert seen == ["cancelled"]


class WrittenTransport(asyncio.Transport):
    """A connection's far end that keeps what is written."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


async def test_thousands_of_answers_read_ahead_are_written_in_order_without_recursion() -> None:
    """Requests read while writing is paused are answered at once when it resumes: one
    after another in `_next`'s loop, not a frame deeper each (the recursion limit is 1000)."""
    server = HttpServer(message_app(make_config(), RecordingSink()),
                        ServerLimits(request_timeout=5, idle_timeout=5, max_connections=8))
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
    assert len(transport.written) == count
    assert [answer.split(b"X-Request-Id: ")[1].split(b"\r\n")[0] for answer in
            transport.written] == [f"r{i}".encode() for i in range(count)]
    assert all(answer.startswith(b"HTTP/1.1 200 OK\r\n") for answer in transport.written)
