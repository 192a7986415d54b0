"""A handler's first step runs outside a task (component/http/protocol.py `_answer`); once it
waits, `_resumed` hands the rest to a task: it must then go on as if the task had run it
from the start, whatever it waits on (a future, a bare yield) and whatever is thrown in."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine

import pytest

from component.http.protocol import _resumed


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
