"""The outbox delivery: a fake link at the port, a real SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from pathlib import Path

import pytest
from lxml import etree

from component.config import DeliveryConfig
from component.errors import InternalError, LinkDown, OutboxFull
from component.jid import Jid
from component.services import delivery as delivery_module
from component.services.delivery import OutboxDelivery
from component.services.ports import DeliveryReport, OutboxPort
from component.store.db import Database
from component.store.outbox import SqliteOutbox, stored_stanzas
from component.store.outbox_file import outbox_path
from component.xmpp.fragment import parse_stored
from component.xmpp.stanza_values import OutboxRow, Stanza
from component.xmpp.stanzas import StartalkFields, build_message
from tests.unit.clock import ManualClock
from tests.unit.polling import eventually

ALICE = Jid.parse("alice@qtalk.test.org")
BOB = Jid.parse("bob@qtalk.test.org")


class FakeLink:
    """The link at the port: records writes; barriers are answered when the test says."""

    def __init__(self, *, auto_ack: bool = True) -> None:
        self.up = asyncio.Event()
        self.written: list[Stanza] = []
        self.flushed = 0
        self.barriers: list[asyncio.Future[etree._Element]] = []
        self.auto_ack = auto_ack
        self._on_up: list[Callable[[], None]] = []
        self._on_down: list[Callable[[], None]] = []

    def check_addresses(self, stanza: Stanza) -> None:
        pass

    def send(self, stanza: Stanza) -> None:
        if not self.up.is_set():
            raise LinkDown("down")
        self.written.append(stanza)

    def flush(self) -> None:
        self.flushed = len(self.written)  # what had been written when delivery flushed

    def barrier(self) -> asyncio.Future[etree._Element]:
        future: asyncio.Future[etree._Element] = asyncio.get_running_loop().create_future()
        if self.auto_ack:
            future.set_result(etree.Element("iq"))
        self.barriers.append(future)
        return future

    async def writable(self) -> None:
        return None

    def is_writable(self) -> bool:
        return self.up.is_set()

    def is_up(self) -> bool:
        return self.up.is_set()

    def on_up(self, listener: Callable[[], None]) -> None:
        self._on_up.append(listener)

    def on_down(self, listener: Callable[[], None]) -> None:
        self._on_down.append(listener)

    def go_up(self) -> None:
        self.up.set()
        for listener in self._on_up:
            listener()

    def go_down(self) -> None:
        self.up.clear()
        for future in self.barriers:
            if not future.done():
                future.set_exception(LinkDown("dropped"))
                future.exception()
        for listener in self._on_down:
            listener()


def message(n: int) -> Stanza:
    return build_message(ALICE, BOB, stanza_id=f"m{n}", msg_type="chat", body=str(n),
                         fields=StartalkFields())


def carbon_of(stanza: Stanza) -> Stanza:
    """The stanza as a courtesy copy: written and acknowledged, not kept."""
    return Stanza(stanza.kind, stanza.id, stanza.sender, stanza.recipient, stanza.data,
                  durable=False)


class ObservedOutbox:
    """The outbox at the port: a real SqliteOutbox whose commits the test counts, and may
    hold up (`before_commit`, awaited first) or make fail (`before_commit` raising)."""

    def __init__(self, db: Database, clock: Callable[[], float] | None = None) -> None:
        self._real = OPEN_OUTBOXES[db.path] = SqliteOutbox(db, clock=clock or time.time)
        self.commits = 0
        self.before_commit: Callable[[], Awaitable[None]] | None = None

    async def open(self) -> None:
        await self._real.open()

    async def close(self) -> None:
        await self._real.close()

    async def last_seq(self) -> int:
        return await self._real.last_seq()

    async def load(self, only: Collection[int] | None = None) -> list[OutboxRow]:
        return await self._real.load(only)

    async def commit(self, new: Sequence[OutboxRow], acked_upto: int | None,
                     accepted_keys: Sequence[str], *,
                     forget_before: float | None = None) -> None:
        self.commits += 1
        if self.before_commit is not None:
            await self.before_commit()
        await self._real.commit(new, acked_upto, accepted_keys, forget_before=forget_before)

    def hold_commits(self) -> asyncio.Event:
        """Each commit from now on waits until the event returned is set."""
        release = asyncio.Event()

        async def held() -> None:
            await release.wait()

        self.before_commit = held
        return release

    def commits_on_loop(self) -> bool:
        # A commit held up or made to fail runs through `commit`, on the committer.
        return self.before_commit is None and self._real.commits_on_loop()

    def commit_on_loop(self, new: Sequence[OutboxRow], acked_upto: int | None,
                       accepted_keys: Sequence[str], *,
                       forget_before: float | None = None) -> None:
        self.commits += 1
        self._real.commit_on_loop(new, acked_upto, accepted_keys, forget_before=forget_before)

    async def accepted_ids(self) -> list[tuple[str, float]]:
        return await self._real.accepted_ids()

    async def prune_accepted(self, older_than: float) -> None:
        await self._real.prune_accepted(older_than)


async def started(link: FakeLink, db: Database | None, *, outbox: OutboxPort | None = None,
                  clock: Callable[[], float] | None = None, barrier_interval: float = 0.0,
                  **config: float) -> OutboxDelivery:
    settings = DeliveryConfig(**{"outbox_max": 100, "window": 5000, "ack_timeout": 1.0,
                                 **config})  # type: ignore[arg-type]
    if outbox is None and db is not None:
        outbox = OPEN_OUTBOXES[db.path] = SqliteOutbox(db)
    # Unpaced unless a test asks (the daemon's 5 ms would only slow the tests down).
    delivery = OutboxDelivery(link, outbox, settings, clock=clock or time.time,
                              barrier_interval=barrier_interval)
    await delivery.start()
    return delivery


# The outbox's file is held by its one connection while open: read through it then.
OPEN_OUTBOXES: dict[Path, SqliteOutbox] = {}


def outbox_file(db: Database) -> sqlite3.Connection:
    return sqlite3.connect(outbox_path(db.path))


async def rows(db: Database) -> list[str]:
    outbox = OPEN_OUTBOXES.get(db.path)
    if outbox is not None and outbox._conn is not None:
        return [row.stanza.id for row in await outbox.load()]
    with contextlib.closing(outbox_file(db)) as conn:
        return [parse_stored(data).id
                for row in conn.execute("SELECT seq, data, parts FROM outbox ORDER BY seq")
                for _, data in stored_stanzas(*row)]


@pytest.fixture(autouse=True)
def short_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery_module, "SETTLE_SECONDS", 0.05)


async def test_routed_after_the_barrier_and_rows_leave_after_settling(db: Database) -> None:
    link = FakeLink()
    link.go_up()
    delivery = await started(link, db)
    report = await delivery.deliver([message(1), message(2)], wait=5)
    assert report.status == "routed"
    assert [s.id for s in link.written] == ["m1", "m2"]

    async def outbox_empty() -> bool:
        return await rows(db) == []

    await eventually(outbox_empty)
    await delivery.drain(1)


async def test_queued_while_down_then_sent_in_order_when_up(db: Database) -> None:
    link = FakeLink()
    delivery = await started(link, db)
    reports = [await delivery.deliver([message(n)]) for n in range(3)]
    assert {r.status for r in reports} == {"queued"}
    assert await rows(db) == ["m0", "m1", "m2"]
    link.go_up()
    await eventually(lambda: [s.id for s in link.written] == ["m0", "m1", "m2"])
    await delivery.drain(1)
    assert await rows(db) == []


async def test_a_drop_replays_unacknowledged_and_recently_acked(db: Database) -> None:
    link = FakeLink(auto_ack=False)
    link.go_up()
    delivery = await started(link, db, window=4096)
    waiter = asyncio.create_task(delivery.deliver([message(1), message(2)], wait=30))
    await eventually(lambda: len(link.written) == 2)
    link.go_down()
    assert (await waiter).status == "queued"
    assert delivery.window == 2048
    link.written.clear()
    link.auto_ack = True
    link.go_up()
    await eventually(lambda: len(link.written) == 2)
    assert [s.id for s in link.written] == ["m1", "m2"]  # same ids, same order
    await delivery.drain(1)


async def test_a_restart_replays_what_the_outbox_kept(db: Database) -> None:
    link = FakeLink()
    first = await started(link, db)
    await first.deliver([message(1), message(2)])  # link down: kept, not sent
    await first.drain(0.1)
    second_link = FakeLink()
    second = await started(second_link, db)
    assert second.depth == 2
    second_link.go_up()
    await eventually(lambda: [s.id for s in second_link.written] == ["m1", "m2"])
    report = await second.deliver([message(3)], wait=5)
    assert report.status == "routed"
    await second.drain(1)


async def test_full_outbox_is_refused_with_what_it_holds(db: Database) -> None:
    link = FakeLink()
    delivery = await started(link, db, outbox_max=3)
    await delivery.deliver([message(1), message(2)])
    with pytest.raises(OutboxFull) as info:
        await delivery.deliver([message(3), message(4)])
    assert info.value.http_status == 503
    assert info.value.message == "the outbox holds 2 messages, its limit is 3"
    await delivery.drain(0.1)


async def test_carbons_do_not_count_against_outbox_max(db: Database) -> None:
    link = FakeLink()
    delivery = await started(link, db, outbox_max=2)
    for n in (1, 2):  # the link is down: each message waits with its carbon
        await delivery.deliver([message(n), carbon_of(message(n))])
    assert delivery.messages == 2
    with pytest.raises(OutboxFull):
        await delivery.deliver([message(3)])
    await delivery.drain(0.1)


async def test_concurrent_requests_share_transactions(db: Database) -> None:
    link = FakeLink()
    link.go_up()
    outbox = ObservedOutbox(db)
    delivery = await started(link, db, outbox=outbox, outbox_max=1000)
    reports = await asyncio.gather(*(delivery.deliver([message(n)]) for n in range(200)))
    assert {r.status for r in reports} == {"accepted"}
    assert outbox.commits < 50
    assert [s.id for s in link.written] == [f"m{n}" for n in range(200)]
    await delivery.drain(1)


async def test_window_bounds_stanzas_in_flight() -> None:
    link = FakeLink(auto_ack=False)
    link.go_up()
    delivery = await started(link, None, window=10, outbox_max=1000)
    tasks = [asyncio.create_task(delivery.deliver([message(n)], wait=30)) for n in range(25)]
    await eventually(lambda: len(link.written) == 10)
    await asyncio.sleep(0.05)
    assert len(link.written) == 10  # and no more, while nothing is acknowledged

    def acknowledge_all() -> bool:
        for barrier in list(link.barriers):
            if not barrier.done():
                barrier.set_result(etree.Element("iq"))
        return all(task.done() for task in tasks)  # the last barrier may come after them

    await eventually(acknowledge_all)
    assert len(link.written) == 25
    assert {(await t).status for t in tasks} == {"routed"}
    await delivery.drain(1)


async def test_caller_ids_are_remembered(db: Database) -> None:
    link = FakeLink()
    link.go_up()
    delivery = await started(link, db)
    await delivery.deliver([message(1)], remember=["alice@qtalk.test.org m1"])
    assert await delivery.accepted_before(["alice@qtalk.test.org m1", "x"]) == {
        "alice@qtalk.test.org m1": "routed"}
    await delivery.drain(1)
    restarted = await started(FakeLink(), db)
    assert await restarted.accepted_before(["alice@qtalk.test.org m1"]) == {
        "alice@qtalk.test.org m1": "routed"}
    await restarted.drain(0.1)


async def test_remembered_ids_are_forgotten_after_their_time(
        db: Database, clock: ManualClock) -> None:
    link = FakeLink()
    link.go_up()
    delivery = await started(link, db, outbox=ObservedOutbox(db, clock), clock=clock)
    await delivery.deliver([message(1)], remember=["alice@qtalk.test.org m1"])
    clock.now += delivery_module.REMEMBER_IDS_SECONDS + 1
    await delivery.deliver([message(2)], remember=["alice@qtalk.test.org m2"])
    assert await delivery.accepted_before(["alice@qtalk.test.org m1", "alice@qtalk.test.org m2"]) \
        == {"alice@qtalk.test.org m2": "routed"}
    await delivery.drain(1)
    with contextlib.closing(outbox_file(db)) as conn:
        assert [r[0] for r in conn.execute("SELECT key FROM accepted_ids")] \
            == ["alice@qtalk.test.org m2"]


async def test_a_caller_canceled_during_the_commit_leaves_the_others_answered(
        db: Database) -> None:
    link = FakeLink()
    link.go_up()
    outbox = ObservedOutbox(db)
    delivery = await started(link, db, outbox=outbox)
    release = outbox.hold_commits()
    canceled = asyncio.create_task(delivery.deliver([message(1)]))
    other = asyncio.create_task(delivery.deliver([message(2)]))
    await eventually(lambda: outbox.commits == 1)
    canceled.cancel()
    await asyncio.sleep(0)
    release.set()
    assert (await other).status == "accepted"
    assert canceled.cancelled()
    assert await rows(db) == ["m1", "m2"]  # written, so kept: it is sent all the same
    outbox.before_commit = None
    assert (await delivery.deliver([message(3)])).status == "accepted"  # the committer lives


async def test_written_while_committing_and_answered_after_the_commit(db: Database) -> None:
    link = FakeLink()
    link.go_up()
    outbox = ObservedOutbox(db)
    delivery = await started(link, db, outbox=outbox)
    written_during_commit: list[int] = []
    release = asyncio.Event()

    async def slow() -> None:
        written_during_commit.append(len(link.written))
        await release.wait()

    outbox.before_commit = slow
    request = asyncio.create_task(delivery.deliver([message(1)]))
    await eventually(lambda: written_during_commit == [1])  # on the stream before its
    assert await rows(db) == []  # row was committed,
    assert not request.done()  # and its caller not answered while the commit is held up
    release.set()
    report = await request
    assert report.status == "accepted"
    assert await rows(db) == ["m1"]  # and in the outbox when the caller was answered
    await delivery.drain(1)


async def test_a_failed_commit_is_reported_and_withdraws_what_was_not_written(
        db: Database) -> None:
    link = FakeLink()  # down: nothing can be written before the commit fails
    outbox = ObservedOutbox(db)
    delivery = await started(link, db, outbox=outbox)

    async def failing() -> None:
        raise OSError("disk full")

    outbox.before_commit = failing
    with pytest.raises(InternalError):
        await delivery.deliver([message(1)])
    outbox.before_commit = None
    link.go_up()
    await delivery.deliver([message(2)])
    assert [s.id for s in link.written] == ["m2"]  # the refused m1 never went out
    await delivery.drain(1)


async def test_one_barrier_on_its_way_covers_what_is_written_meanwhile() -> None:
    link = FakeLink(auto_ack=False)
    link.go_up()
    delivery = await started(link, None, outbox_max=1000)
    first = asyncio.create_task(delivery.deliver([message(0)], wait=30))
    await eventually(lambda: len(link.barriers) == 1)
    later = [asyncio.create_task(delivery.deliver([message(n)], wait=30)) for n in (1, 2, 3)]
    await eventually(lambda: len(link.written) == 4)
    await asyncio.sleep(0.02)
    assert len(link.barriers) == 1  # no ping per write while one is on its way
    link.barriers[0].set_result(etree.Element("iq"))
    assert (await first).status == "routed"
    await eventually(lambda: len(link.barriers) == 2)  # the next one covers m1..m3
    assert not any(task.done() for task in later)
    link.barriers[1].set_result(etree.Element("iq"))
    assert {(await task).status for task in later} == {"routed"}
    await delivery.drain(1)


async def test_carbons_are_sent_and_acknowledged_but_not_kept(db: Database) -> None:
    link = FakeLink()
    delivery = await started(link, db)
    carbon = carbon_of(message(2))
    report = await delivery.deliver([message(1), carbon])
    assert report.status == "queued"
    assert await rows(db) == ["m1"]  # the courtesy copy is not in the outbox
    link.go_up()
    await eventually(lambda: [s.id for s in link.written] == ["m1", "m2"])
    await delivery.drain(1)


async def message_and_copy_in_flight(
        link: FakeLink) -> tuple[OutboxDelivery, asyncio.Task[DeliveryReport]]:
    """A request of a message and its carbon, the message written, its barrier on its way."""
    link.go_up()
    delivery = await started(link, None, outbox_max=1000)
    carbon = carbon_of(message(2))
    request = asyncio.create_task(delivery.deliver([message(1), carbon], wait=30))
    await eventually(lambda: len(link.barriers) == 1)
    return delivery, request


async def test_a_copy_is_written_once_its_message_is_routed() -> None:
    link = FakeLink(auto_ack=False)
    delivery, request = await message_and_copy_in_flight(link)
    await asyncio.sleep(0.02)
    assert [s.id for s in link.written] == ["m1"]  # the copy waits for the message
    link.barriers[0].set_result(etree.Element("iq"))
    assert (await request).status == "routed"  # answered for its message alone
    await eventually(lambda: [s.id for s in link.written] == ["m1", "m2"])
    await eventually(lambda: len(link.barriers) == 2)  # the copy is acknowledged in turn
    link.barriers[1].set_result(etree.Element("iq"))
    await eventually(lambda: delivery.depth == 0)
    await delivery.drain(1)


async def test_a_copy_waits_through_a_link_drop() -> None:
    link = FakeLink(auto_ack=False)
    delivery, request = await message_and_copy_in_flight(link)
    link.go_down()
    # answered at once, not when its 30 s wait runs out
    assert (await asyncio.wait_for(request, 2)).status == "queued"
    link.auto_ack = True
    link.go_up()
    await eventually(lambda: [s.id for s in link.written] == ["m1", "m1", "m2"])
    await delivery.drain(1)


async def test_answered_once_durable_unless_asked_to_wait_for_routing(db: Database) -> None:
    link = FakeLink(auto_ack=False)
    link.go_up()
    delivery = await started(link, db)
    report = await asyncio.wait_for(delivery.deliver([message(1)]), 5)
    assert report.status == "accepted"  # no barrier has come back
    assert await rows(db) == ["m1"]  # committed before the caller was answered
    waiting = asyncio.create_task(delivery.deliver([message(2)], wait=30))
    await eventually(lambda: len(link.written) == 2)
    await asyncio.sleep(0.05)
    assert not waiting.done()  # ?wait=N: until the server has routed it
    for barrier in link.barriers:
        barrier.set_result(etree.Element("iq"))
    await eventually(lambda: len(link.barriers) == 2)
    link.barriers[-1].set_result(etree.Element("iq"))
    assert (await waiting).status == "routed"
    await delivery.drain(1)


async def test_a_slow_server_answers_queued_after_the_wait(db: Database) -> None:
    link = FakeLink(auto_ack=False)
    link.go_up()
    delivery = await started(link, db)
    report = await asyncio.wait_for(delivery.deliver([message(1)], wait=0.3), 5)
    assert report.status == "queued"  # no barrier came back
    assert await rows(db) == ["m1"]  # but it was committed all the same
    await delivery.drain(0.1)


async def test_a_link_drop_replays_routed_messages_not_routed_copies(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery_module, "SETTLE_SECONDS", 30.0)  # both still settling
    link = FakeLink()
    link.go_up()
    delivery = await started(link, None, outbox_max=1000)
    carbon = carbon_of(message(2))
    assert (await delivery.deliver([message(1), carbon])).status == "routed"
    await eventually(lambda: [s.id for s in link.written] == ["m1", "m2"])
    await eventually(lambda: delivery.depth == 0)
    link.go_down()
    link.go_up()
    await eventually(lambda: [s.id for s in link.written] == ["m1", "m2", "m1"])
    await asyncio.sleep(0.05)
    assert [s.id for s in link.written] == ["m1", "m2", "m1"]  # the copy is not sent again
    await delivery.drain(1)


async def test_a_drop_replays_routed_messages_read_back_from_the_outbox(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery_module, "SETTLE_SECONDS", 30.0)  # still settling at the drop
    link = FakeLink(auto_ack=False)
    link.go_up()
    delivery = await started(link, db)
    carbon = carbon_of(message(2))
    assert (await delivery.deliver([message(1), carbon, message(3)])).status == "accepted"

    def acknowledge() -> bool:  # the messages, then their carbon
        for barrier in link.barriers:
            if not barrier.done():
                barrier.set_result(etree.Element("iq"))
        return delivery.depth == 0 and len(link.written) == 3

    await eventually(acknowledge)
    # Committed before they were routed: settling keeps their seqs, not their stanzas.
    assert [uncommitted for *_, uncommitted in delivery._settling] == [()]
    link.go_down()
    assert (await delivery.deliver([message(4)])).status == "queued"
    link.auto_ack = True
    link.go_up()
    await eventually(lambda: len(link.written) == 6)
    assert [s.id for s in link.written] == ["m1", "m3", "m2", "m1", "m3", "m4"]
    assert link.written[3] == link.written[0]
    await delivery.drain(1)


async def test_a_drop_replays_messages_routed_before_their_row_was_committed(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A barrier may return while its messages' transaction is still running (synchronous =
    full): their stanzas stay in memory for a replay, the others of the range are read back."""
    monkeypatch.setattr(delivery_module, "SETTLE_SECONDS", 30.0)  # still settling at the drop
    link = FakeLink(auto_ack=False)
    link.go_up()
    outbox = ObservedOutbox(db)
    delivery = await started(link, db, outbox=outbox)
    assert (await delivery.deliver([message(1)])).status == "accepted"
    held = asyncio.Event()

    async def hold() -> None:
        await held.wait()

    outbox.before_commit = hold
    second = asyncio.create_task(delivery.deliver([message(2), message(3)]))
    await eventually(lambda: len(link.written) == 3)

    def acknowledge() -> bool:
        for barrier in link.barriers:
            if not barrier.done():
                barrier.set_result(etree.Element("iq"))
        return delivery.depth == 0

    await eventually(acknowledge)
    assert [[e.stanza.id for e in uncommitted] for *_, uncommitted in delivery._settling] == \
        [[], ["m2", "m3"]]
    link.go_down()
    link.written.clear()
    link.auto_ack = True
    link.go_up()  # replayed while their rows are still not committed
    await eventually(lambda: len(link.written) == 3)
    assert [s.id for s in link.written] == ["m1", "m2", "m3"]
    assert await rows(db) == ["m1"]
    held.set()
    assert (await second).status == "accepted"
    await delivery.drain(1)


async def test_callers_wait_while_a_window_waits_behind_the_window(db: Database) -> None:
    link = FakeLink(auto_ack=False)
    link.go_up()
    delivery = await started(link, db, window=10, outbox_max=1000)
    reports = [await delivery.deliver([message(n)]) for n in range(20)]
    assert {r.status for r in reports} == {"accepted"}  # 10 in flight, 10 behind them
    blocked = asyncio.create_task(delivery.deliver([message(20)]))
    await asyncio.sleep(0.05)
    assert not blocked.done()  # a window's worth waits already: the caller waits too

    def acknowledge() -> bool:
        for barrier in link.barriers:
            if not barrier.done():
                barrier.set_result(etree.Element("iq"))
        return blocked.done()

    await eventually(acknowledge)
    assert (await blocked).status == "accepted"
    await delivery.drain(1)


async def test_a_link_drop_lets_waiting_callers_through_to_the_outbox(db: Database) -> None:
    link = FakeLink(auto_ack=False)
    link.go_up()
    delivery = await started(link, db, window=4, outbox_max=1000)
    for n in range(8):
        await delivery.deliver([message(n)])
    blocked = asyncio.create_task(delivery.deliver([message(8)]))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    link.go_down()
    assert (await asyncio.wait_for(blocked, 2)).status == "queued"  # kept, sent when back
    assert "m8" in await rows(db)
    await delivery.drain(0.1)


async def test_barriers_are_paced_and_still_cover_everything(db: Database) -> None:
    """Answered once durable, nobody waits for a barrier: stanzas written while one is out
    wait for the next, which leaves no sooner than the interval after the one before, and
    acknowledges all of them."""
    link = FakeLink(auto_ack=True)
    link.go_up()
    delivery = await started(link, db, barrier_interval=0.05)
    loop = asyncio.get_running_loop()
    reports = [await delivery.deliver([message(n)]) for n in range(3)]
    assert [report.status for report in reports] == ["accepted"] * 3
    assert len(link.barriers) == 1  # at once: none left before it
    sent_first = loop.time()
    await eventually(lambda: len(link.barriers) == 2)  # one for the two written after it
    assert loop.time() - sent_first >= 0.045
    await eventually(lambda: delivery.depth == 0)
    await delivery.drain(1.0)


async def test_a_caller_waiting_for_its_barrier_is_not_paced() -> None:
    """Without an outbox every caller waits for its barrier: it leaves at once."""
    link = FakeLink(auto_ack=True)
    link.go_up()
    delivery = await started(link, None, barrier_interval=0.5)
    loop = asyncio.get_running_loop()
    assert (await delivery.deliver([message(1)])).status == "routed"
    asked = loop.time()
    assert (await delivery.deliver([message(2)])).status == "routed"
    assert loop.time() - asked < 0.25
    assert len(link.barriers) == 2
    await delivery.drain(1.0)


@pytest.mark.parametrize("committer", ["running", "ended"])
async def test_drain_commits_what_was_accepted_with_or_without_its_committer(
        db: Database, committer: str) -> None:
    """The committer commits for drain(); when it no longer runs (ended by a fault of its
    own), drain commits itself rather than wait for it."""
    link = FakeLink()
    link.go_up()
    outbox = ObservedOutbox(db)
    delivery = await started(link, None, outbox=outbox)
    gate = outbox.hold_commits()  # the next commit waits: its rows are not in yet
    report = await delivery.deliver([message(1)], deferred=True)
    assert report.pending is not None
    if committer == "ended":
        delivery._tasks[0].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await delivery._tasks[0]
    outbox.before_commit = None
    gate.set()
    ended: list[bool] = []
    report.pending.then(ended.append)
    await asyncio.wait_for(delivery.drain(0.2), 5)
    assert ended == [True]  # committed (then routed, and settled by the drain)
    assert outbox.commits >= 1
