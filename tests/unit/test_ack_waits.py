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


async def test_a_barrier_ends_the_waits_up_to_its_seq_as_routed() -> None:
    loop = asyncio.get_running_loop()
    waits = AckWaits(loop)
    futures = [loop.create_future() for _ in range(5)]
    for seq, future in enumerate(futures):
        waits.add(future, seq, 10.0)
    futures[1].cancel()  # its caller went away: left alone
    waits.acknowledge(2)
    assert [f.result() for f in (futures[0], futures[2])] == [True, True]
    assert not futures[3].done()
    assert [seq for seq, _, _ in waits._waits] == [3, 4]


async def test_a_link_drop_ends_every_wait_as_queued() -> None:
    loop = asyncio.get_running_loop()
    waits = AckWaits(loop)
    routed, waiting = loop.create_future(), loop.create_future()
    waits.add(routed, 1, 10.0)
    waits.add(waiting, 2, 10.0)
    waits.acknowledge(1)
    waits.stop_all()
    assert (routed.result(), waiting.result()) == (True, False)
    assert not waits._waits


async def test_a_canceled_waiter_is_skipped() -> None:
    loop = asyncio.get_running_loop()
    waits = AckWaits(loop)
    canceled, waiting = loop.create_future(), loop.create_future()
    waits.add(canceled, 1, 0.01)
    waits.add(waiting, 2, 0.02)
    canceled.cancel()
    assert await waiting is False
