"""The deadlines of callers waiting for their acknowledgement: one timer for all."""

from __future__ import annotations

import asyncio

from component.services.ack_waits import AckWaits


async def test_each_wait_ends_at_its_own_deadline_in_any_order() -> None:
    loop = asyncio.get_running_loop()
    waits = AckWaits(loop)
    late, early, acknowledged = (loop.create_future() for _ in range(3))
    waits.add(late, 1, 0.2)
    waits.add(early, 2, 0.05)  # earlier than the armed timer: re-armed
    waits.add(acknowledged, 3, 0.05)
    acknowledged.set_result(True)
    await asyncio.sleep(0.1)
    assert early.result() is False
    assert not late.done()
    assert acknowledged.result() is True  # resolved before: left alone
    assert await late is False


async def test_acknowledged_waits_leave_the_front_when_pruned() -> None:
    loop = asyncio.get_running_loop()
    waits = AckWaits(loop)
    futures = [loop.create_future() for _ in range(5)]
    for seq, future in enumerate(futures):
        waits.add(future, seq, 10.0)
    for future in futures[:3]:
        future.set_result(True)
    waits.prune()
    assert [seq for _, seq, _ in waits._deadlines] == [3, 4]


async def test_a_canceled_waiter_is_skipped() -> None:
    loop = asyncio.get_running_loop()
    waits = AckWaits(loop)
    canceled, waiting = loop.create_future(), loop.create_future()
    waits.add(canceled, 1, 0.01)
    waits.add(waiting, 2, 0.02)
    canceled.cancel()
    assert await waiting is False
