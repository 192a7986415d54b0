"""Durable delivery: the outbox, the window and the barrier (DESIGN.md §3).

XEP-0114 has no acknowledgements, so the daemon makes its own. A message is written to the
stream, then committed to the outbox (one transaction for every request that arrived
meanwhile); its caller is answered once it is committed ("accepted"), or, when it asks to
wait, once the server routed it. It is acknowledged by a ping barrier: ejabberd handles a
stream in order, so the pong proves everything before it was routed. Carbons follow their
message once it is routed. Acknowledged rows stay `settle` seconds more, so stanzas the
server routed but had not yet handed to a client when it crashed are replayed (at-least-once;
the same ids let clients drop duplicates). The number of stanzas written but not
acknowledged is bounded by a window, halved when a link drops with stanzas in flight and
grown back as barriers return: ejabberd kills a component whose queue passes max_fsm_queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from lxml import etree

from component.config import DeliveryConfig
from component.errors import OUTBOX_FAILED, ApiError, InternalError, LinkDown, OutboxFull
from component.services.ack_waits import AckWaits
from component.services.ports import DeliveryReport, LinkPort, OutboxPort
from component.xmpp.stanza_values import Entry, Stanza

log: Final = logging.getLogger(__name__)
MIN_WINDOW: Final = 64
SETTLE_SECONDS = 2.0
ACCEPTED, ROUTED, QUEUED = (DeliveryReport("accepted"), DeliveryReport("routed"),
                            DeliveryReport("queued"))
# Settled rows are deleted in sweeps this far apart (as a share of SETTLE_SECONDS), not one
# timer per acknowledgement: under steady load that timer fired for every barrier, and each
# firing cost a wake-up and a transaction of its own.
SETTLE_SWEEPS: Final = 20
REMEMBER_IDS_SECONDS: Final = 24 * 3600.0
BARRIER_INTERVAL: Final = 0.005  # seconds from one barrier to the next, at the least (_ask_barrier)


# The messages a returned barrier routed, kept SETTLE_SECONDS for a replay: (first seq, last
# seq, how many messages, acknowledged at, those not yet committed then). A barrier routes a
# prefix of the stanzas in flight, so the records are consecutive ranges of seqs, and a
# replay reads the range's stanzas back from the outbox (carbons in it were not kept, and are
# not replayed), all but those whose rows were not committed yet, kept here. The others are
# not kept in memory: at 17,000 messages a second, the stanzas of two seconds took some 20 MB,
# the larger part of the daemon's peak memory under arrays. One record a barrier, not a tuple
# a message: that cost some 1,000 instructions a message, built here and taken apart by
# _settle.
Settling = tuple[int, int, int, float, tuple[Entry, ...]]


@dataclass(slots=True)
class _Group:
    """What the next transaction writes: new rows, remembered ids, and a future for each
    caller that waits for it (True once committed, False when the transaction failed). One
    future per caller, not one for the group: a caller's cancellation cancels the future it
    awaits. Callers that do not wait (`deliver(deferred=True)`) are called back (`then`),
    without a future or a task's wake-up each: a PendingCommit."""

    entries: list[Entry] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    waiters: list[asyncio.Future[bool]] = field(default_factory=list)
    forget_before: float | None = None  # remembered ids older than this are dropped
    callbacks: list[Callable[[bool], None]] = field(default_factory=list)
    outcome: bool | None = None  # once ended: committed or not
    ending: bool = False  # its callbacks are being called

    def then(self, callback: Callable[[bool], None]) -> None:
        if self.outcome is None or self.ending:
            self.callbacks.append(callback)
        else:
            callback(self.outcome)

    def end(self, committed: bool) -> None:
        self.outcome = committed
        _resolve(self.waiters, committed)
        self.ending = True
        while self.callbacks:  # those added meanwhile after those before them
            callbacks, self.callbacks = self.callbacks, []
            for callback in callbacks:
                try:
                    callback(committed)
                except Exception:  # one caller's fault must not leave the others unanswered
                    log.exception("a caller of the outbox's transaction failed")
        self.ending = False


class _Wakeup:
    """asyncio.Event's set, wait and clear for the one task that waits on it. Event.wait
    looks up the running loop (a getpid syscall on Python 3.11) every time it sleeps, and
    the committer and the pump sleep once or more per loop turn under load."""

    __slots__ = ("_due", "_sleeper")

    def __init__(self) -> None:
        self._due = False
        self._sleeper: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._due = True
        sleeper = self._sleeper
        if sleeper is not None:
            self._sleeper = None
            if not sleeper.done():  # canceled with its task
                sleeper.set_result(None)

    async def wait_and_clear(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._due:
            sleeper = self._sleeper = loop.create_future()
            await sleeper
        self._due = False


class OutboxDelivery:
    """Implements StanzaSink on top of the link, with the SQLite outbox (or without it)."""

    def __init__(self, link: LinkPort, outbox: OutboxPort | None, config: DeliveryConfig, *,
                 clock: Callable[[], float] = time.time,
                 barrier_interval: float = BARRIER_INTERVAL) -> None:
        self._link = link
        self.check_addresses = link.check_addresses  # StanzaSink's, the link's own
        self._outbox = outbox
        self._config = config
        self._clock = clock  # when caller-supplied ids were accepted (the outbox's clock too)
        self.window = config.window
        self._seq = 0
        self._unsent: deque[Entry] = deque()
        self._inflight: deque[Entry] = deque()
        self._settling: deque[Settling] = deque()
        self._committed_upto = 0  # the rows up to this seq are in the outbox (or failed)
        self._read_back: list[Settling] = []  # to replay once read back from the outbox
        self._group = _Group()
        self._settled_upto: int | None = None
        self._accepted: dict[str, int] = {}  # caller-supplied ids → seq
        self._accepted_order: deque[tuple[float, str]] = deque()  # (accepted at, id), oldest first
        self._commit_wakeup = _Wakeup()  # the committer's: a commit on the writer thread
        self._commit_due = False  # _commit_soon is on its way
        self._committing = False  # the committer waits for the writer thread
        self._settle_timer: asyncio.TimerHandle | None = None  # one at a time
        self._pump_wakeup = _Wakeup()
        self._barrier: asyncio.Future[etree._Element] | None = None  # the one on its way
        self._barrier_wanted = False  # stanzas were written after it left
        self._barrier_interval = barrier_interval
        self._barrier_sent_at = -barrier_interval  # loop time
        self._paced_barrier: asyncio.TimerHandle | None = None  # the next, not yet due
        self._barrier_awaited = False  # a caller waits for the next barrier: not paced
        self._tasks: list[asyncio.Task[None]] = []
        # Set by start(). The loop is captured: asyncio.get_running_loop() makes a getpid
        # syscall each call.
        self._loop: asyncio.AbstractEventLoop
        self._ack_waits: AckWaits  # callers waiting for the barrier
        self.replays = 0
        # Messages accepted and not yet acknowledged: what `outbox_max` limits (README
        # counts messages; their carbons are neither kept nor counted).
        self.messages = 0
        # Callers waiting for the backlog to shrink (see _room_for_more).
        self._backlog_waiters: list[asyncio.Future[None]] = []

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ack_waits = AckWaits(self._loop)
        if self._outbox is not None:
            await self._outbox.open()
            self._seq = self._committed_upto = await self._outbox.last_seq()
            await self._outbox.prune_accepted(self._clock() - REMEMBER_IDS_SECONDS)
            for key, accepted_at in await self._outbox.accepted_ids():
                self._accepted[key] = 0
                self._accepted_order.append((accepted_at, key))
            rows = await self._outbox.load()
            self._unsent.extend(Entry(r.seq, r.stanza) for r in rows)
            self.messages = len(rows)
            if rows:
                log.info("replaying %d unacknowledged stanzas from the outbox", len(rows))
        self._link.on_up(self._pump_wakeup.set)
        self._link.on_down(self._link_lost)
        self._tasks = [asyncio.create_task(self._committer(), name="outbox-commit"),
                       asyncio.create_task(self._pump(), name="outbox-pump")]
        self._pump_wakeup.set()

    async def drain(self, timeout: float) -> None:
        """Graceful stop: wait until everything accepted has been acknowledged."""
        deadline = asyncio.get_running_loop().time() + timeout
        # Polling is fine here: it runs once, at shutdown, over several queues at once.
        while self.depth and self._link.is_up() \
                and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if self._link.is_up() and self._settling:
            # The server is still running, so what it routed needs no more settling.
            self._settled_upto = self._settling[-1][1]
            self._settling.clear()
        if self._settle_timer is not None:
            self._settle_timer.cancel()
        self._cancel_paced_barrier()
        await self._commit_now()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._outbox is not None:
            await self._outbox.close()
        if self.depth:
            log.warning("stopping with %d stanzas not acknowledged: kept for the next start",
                        self.depth)

    @property
    def depth(self) -> int:
        """Accepted stanzas not yet acknowledged by the server."""
        return len(self._group.entries) + len(self._unsent) + len(self._inflight) \
            + sum(routed[2] for routed in self._read_back)

    # -- accepting -----------------------------------------------------------------------

    async def accepted_before(self, keys: Sequence[str]) -> dict[str, str]:
        """Caller-supplied ids seen before, with their state now: routed or queued."""
        pending_from = self._lowest_pending_seq()
        return {key: "queued" if seq >= pending_from else "routed"
                for key in keys if (seq := self._accepted.get(key)) is not None}

    async def deliver(self, stanzas: Sequence[Stanza], *, wait: float | None = None,
                      remember: Sequence[str] = (), deferred: bool = False) -> DeliveryReport:
        # A backlog (see _room_for_more); the window's test first: it fails on the hot path.
        while len(self._unsent) >= self.window and self._link.is_up():
            await self._room_for_more()
        entries = self._new_entries(stanzas)  # the last one's seq is self._seq
        acked: asyncio.Future[bool] | None = None
        if self._outbox is None or wait:  # else durable enough once committed
            # Only the last one's acknowledgement is awaited: the barrier acks in order. One
            # future per request, resolved by the barrier, a link drop or the deadline:
            # asyncio.wait's sets and callbacks cost more than the rest of this method.
            acked = self._loop.create_future()
            self._ack_waits.add(acked, self._seq, wait or self._config.ack_timeout)
            self._barrier_awaited = True  # the next barrier leaves unpaced
        if remember or self._accepted_order:
            self._remember(remember, self._seq)
        # The stanzas go to the stream before their rows are committed: the caller is
        # answered only after the commit, so whatever is accepted is in the outbox, and the
        # transaction stays off the delivery path. A crash before the commit leaves the
        # caller unanswered; it retries, and the receiver may see the message twice, with
        # the same id: at-least-once, never lost.
        self._unsent.extend(entries)
        if self._link.is_writable():
            self._pump_once()  # written now, ahead of the transaction
        else:
            self._pump_wakeup.set()
        if self._outbox is not None:  # the entries join the next transaction
            group = self._group
            if not group.entries:
                self._schedule_commit()
            group.entries += entries
            if remember:
                group.keys += remember
            if deferred and acked is None:  # the caller answers once the group has ended
                return DeliveryReport("accepted" if self._link.is_up() else "queued",
                                      group)
            committed: asyncio.Future[bool] = self._loop.create_future()
            group.waiters.append(committed)
            if not await committed:  # True once committed, False when that failed
                raise InternalError(OUTBOX_FAILED)
        up = self._link.is_up()
        if acked is None:  # durable enough: the outbox replays it until the server routed it
            return ACCEPTED if up else QUEUED
        if not up and wait is None:
            return QUEUED
        if not acked.done():  # else the barrier came back while the rows were committed
            await acked
        return ROUTED if acked.result() else QUEUED

    def _new_entries(self, stanzas: Sequence[Stanza]) -> list[Entry]:
        """A request's stanzas, numbered, with its courtesy copies (carbons) on the last one.
        They wait until the request's messages are routed: written with them, the server
        handled the copies before handing the messages to their recipients, which cost a
        message 0.6 ms of its delivery (bench/RESULTS.md)."""
        seq = self._seq
        if len(stanzas) == 1 and stanzas[0].durable:  # most requests: one message
            entries = [Entry(seq + 1, stanzas[0])]
            copies: list[Stanza] = []
        else:
            entries, copies = [], []
            for stanza in stanzas:
                if stanza.durable:
                    seq += 1
                    entries.append(Entry(seq, stanza))
                else:
                    copies.append(stanza)
            seq = self._seq
        if self.messages + len(entries) > self._config.outbox_max:
            raise OutboxFull(f"the outbox holds {self.messages} messages, its limit is "
                             f"{self._config.outbox_max}")
        self.messages += len(entries)
        if not entries:  # copies alone: nothing to wait for
            entries, copies = [Entry(seq, copy) for seq, copy in enumerate(copies, seq + 1)], []
        self._seq = entries[-1].seq
        if copies:
            entries[-1].copies = tuple(copies)
        return entries

    def _remember(self, keys: Sequence[str], seq: int) -> None:
        """Keep caller-supplied ids REMEMBER_IDS_SECONDS, in memory and in the store."""
        now = self._clock()
        for key in keys:
            self._accepted[key] = seq
            self._accepted_order.append((now, key))
        cutoff = now - REMEMBER_IDS_SECONDS
        if self._accepted_order and self._accepted_order[0][0] < cutoff:
            while self._accepted_order and self._accepted_order[0][0] < cutoff:
                self._accepted.pop(self._accepted_order.popleft()[1], None)
            self._group.forget_before = cutoff

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # -- committing: one transaction per group ------------------------------------------

    def commit_pending(self) -> None:
        """Commit what was handed over so far now, its stanzas written first, when the
        outbox can commit on the loop's thread (else the committer does, as soon as it can).

        For a caller that knows when a loop pass has handed over its last request (the HTTP
        server): the stanzas and the answers then leave in that pass. Left to the end of the
        pass (`_commit_soon`), they left in the next, and every request took a pass more."""
        if self._group_has_work():
            self._link.flush()  # the stanzas leave ahead of their commit
            self._commit_on_loop()

    def _schedule_commit(self) -> None:
        if not self._commit_due:
            self._commit_due = True
            self._loop.call_soon(self._commit_soon)

    def _commit_soon(self) -> None:
        """The end of the loop pass in which the group got its first work."""
        self._commit_due = False
        self.commit_pending()

    def _group_has_work(self) -> bool:
        """Whether the next transaction has anything to write (never without an outbox)."""
        group = self._group
        return self._outbox is not None and bool(
            group.entries or group.keys or self._settled_upto is not None
            or group.forget_before)

    def _commit_on_loop(self) -> None:
        """The group's transaction, run here; the committer's when the outbox needs its writer
        thread or the committer is at work (one transaction at a time)."""
        outbox = self._outbox
        if outbox is None or self._committing or not outbox.commits_on_loop():
            self._commit_wakeup.set()
            return
        group, rows, upto = self._take_group()
        try:
            outbox.commit_on_loop(rows, upto, group.keys, forget_before=group.forget_before)
        except Exception:
            self._group_failed(group)
            return
        self._group_committed(group, rows)

    async def _committer(self) -> None:
        """The one task that commits on the writer thread: one transaction at a time, without
        a lock (an asyncio.Lock's four interpreted calls cost more than the rest of a commit's
        Python)."""
        loop = self._loop
        while True:
            await self._commit_wakeup.wait_and_clear(loop)
            await self._commit_group()

    async def _commit_now(self) -> None:
        """Wait until the committer has committed everything accepted so far (or commit
        here, when no committer runs: before start, or after a fault of its own ended it)."""
        if not self._tasks or self._tasks[0].done():
            await self._commit_group()
            return
        ended: asyncio.Future[bool] = self._loop.create_future()

        def end(committed: bool) -> None:
            if not ended.done():  # else its waiter was canceled
                ended.set_result(committed)

        self._group.then(end)
        self._commit_wakeup.set()
        await ended

    async def _commit_group(self) -> None:
        work = self._group_has_work()
        group, rows, upto = self._take_group()
        if not work or self._outbox is None:
            group.end(True)
            return
        self._committing = True
        try:
            await self._outbox.commit(rows, upto, group.keys,
                                      forget_before=group.forget_before)
        except Exception:
            self._group_failed(group)
            return
        finally:
            self._committing = False
        self._group_committed(group, rows)

    def _take_group(self) -> tuple[_Group, list[Entry], int | None]:
        """The group to commit, its rows and the acknowledged mark; a new group for what
        comes meanwhile."""
        group, self._group = self._group, _Group()
        upto, self._settled_upto = self._settled_upto, None
        # Carbons are courtesy copies for the sender's own clients: written and acknowledged
        # like the rest, but not kept (a crash of the daemon may lose one, never a message).
        return group, [entry for entry in group.entries if entry.stanza.durable], upto

    def _group_failed(self, group: _Group) -> None:
        """Called while the transaction's exception is handled (logged with it)."""
        log.exception("outbox write failed: %d requests refused",
                      len(group.waiters) + len(group.callbacks))
        # Not yet written: withdrawn. Already written: past recall; their callers hear of a
        # failure, and a retry may deliver them twice (never lost).
        refused = {id(entry) for entry in group.entries}
        withdrawn = [e for e in self._unsent if id(e) in refused]
        self._unsent = deque(e for e in self._unsent if id(e) not in refused)
        self.messages -= sum(e.stanza.durable for e in withdrawn)
        group.end(False)  # each caller answers with an InternalError of its own

    def _group_committed(self, group: _Group, rows: list[Entry]) -> None:
        if rows:
            self._committed_upto = rows[-1].seq
        group.end(True)

    # -- the pump: outbox → stream, within the window ------------------------------------

    async def _pump(self) -> None:
        loop = self._loop
        while True:
            await self._pump_wakeup.wait_and_clear(loop)
            if self._link.is_up():
                if self._read_back:
                    await self._replay_settled()
                await self._link.writable()
                self._pump_once()

    async def _replay_settled(self) -> None:
        """Put the routed messages of a lost link, their stanzas read back from the outbox
        where dropped, in front of everything else (nothing is written meanwhile)."""
        routed = self._read_back
        stanzas: dict[int, Stanza] = {}
        try:
            if self._outbox is not None:  # only rows in an outbox drop stanzas
                stanzas = {r.seq: r.stanza for r in await self._outbox.load(
                    range(routed[0][0], routed[-1][1] + 1))}
        except Exception:
            # Routed already, so lost only if the server lost them too; still in the outbox,
            # they are sent again at the next start.
            log.exception("outbox read failed: %d routed messages not replayed",
                          sum(batch[2] for batch in routed))
        for batch in routed:
            stanzas.update((entry.seq, entry.stanza) for entry in batch[4])
        replay = [Entry(seq, stanzas[seq]) for seq in sorted(stanzas)]
        self._read_back = []
        self._unsent.extendleft(reversed(replay))

    def _pump_once(self) -> None:
        if self._read_back:  # older than anything queued: the pump replays them first
            self._pump_wakeup.set()
            return
        unsent, inflight, send = self._unsent, self._inflight, self._link.send
        room = self.window - len(inflight)
        moved = 0
        while unsent and moved < room:
            entry = unsent.popleft()
            try:
                send(entry.stanza)
            except LinkDown:
                unsent.appendleft(entry)
                return
            except ApiError as exc:
                # Only a row from an earlier run can fail here (say its host was removed
                # from the config): report it and let it leave with the next barrier.
                log.error("outbox row %d (%s to %s) refused, dropped: %s", entry.seq,
                          entry.stanza.id, entry.stanza.recipient, exc.message)
            inflight.append(entry)
            moved += 1
        if moved:
            self._ask_barrier()
            if self._backlog_waiters and len(unsent) < self.window:
                self._release_backlog_waiters()

    def _room_for_more(self) -> asyncio.Future[None]:
        """What a caller waits for before its stanzas join the queue (woken when the backlog
        shrinks or the link drops; it looks again then). While the link is up, a caller waits
        as long as a window's worth of stanzas waits behind the window in flight: answered
        once durable, callers would otherwise outrun a server that routes slower than they
        send, and the backlog, with the delay of every message in it, would grow up to
        `outbox_max` (with carbons, arrays of 100 took 153 MB). With the link down nothing
        waits: the outbox keeps it, up to `outbox_max`."""
        room: asyncio.Future[None] = self._loop.create_future()
        self._backlog_waiters.append(room)
        return room

    def _release_backlog_waiters(self) -> None:
        waiters, self._backlog_waiters = self._backlog_waiters, []
        for room in waiters:
            if not room.done():
                room.set_result(None)

    def _ask_barrier(self) -> None:
        """One barrier on its way at a time: stanzas written meanwhile wait for the next,
        sent when it returns. Under load one ping then covers many requests. Unless a caller
        waits for it (`?wait`, no outbox), the next also leaves no sooner than
        `barrier_interval` after the one before: a ping per round trip (~1 ms under load)
        cost ejabberd and this daemon a ping and a pong per ten messages, and nobody waited
        for them but carbons (a message is routed as soon as it is written); paced at 5 ms
        the same runs delivered 4-9% more, the daemon 2-6 µs a request less
        (bench/RESULTS.md)."""
        if self._barrier is not None:
            self._barrier_wanted = True
            return
        loop = self._loop
        if not self._barrier_awaited:
            if self._paced_barrier is not None:  # due soon
                return
            due = self._barrier_sent_at + self._barrier_interval
            if loop.time() < due:
                self._paced_barrier = loop.call_at(due, self._send_paced_barrier)
                return
        self._cancel_paced_barrier()
        self._barrier_awaited = False
        self._barrier_sent_at = loop.time()
        barrier = self._barrier = self._link.barrier()
        barrier.add_done_callback(functools.partial(self._barrier_done, self._inflight[-1].seq))

    def _cancel_paced_barrier(self) -> None:
        if self._paced_barrier is not None:
            self._paced_barrier.cancel()
            self._paced_barrier = None

    def _send_paced_barrier(self) -> None:
        self._paced_barrier = None
        if self._inflight and self._link.is_up():
            self._ask_barrier()

    def _barrier_done(self, last_seq: int, barrier: asyncio.Future[etree._Element]) -> None:
        if barrier is self._barrier:
            self._barrier = None
        if barrier.cancelled() or barrier.exception() is not None:
            return  # the link dropped: _link_lost put the stanzas back for replay
        inflight, committed_upto = self._inflight, self._committed_upto
        first = inflight[0].seq if inflight else last_seq
        some_uncommitted = last_seq > committed_upto  # rarely: then their stanzas are kept
        uncommitted: list[Entry] = []
        routed = 0
        while inflight and inflight[0].seq <= last_seq:
            entry = inflight.popleft()
            if entry.copies:
                self._unsent.extend(Entry(self._next_seq(), copy) for copy in entry.copies)
                entry.copies = ()
            if entry.stanza.durable:  # a routed copy is not replayed: a crash may lose it
                routed += 1
                if some_uncommitted and entry.seq > committed_upto:
                    uncommitted.append(entry)
        if routed:
            self._settling.append((first, last_seq, routed, time.monotonic(),
                                   tuple(uncommitted)))
        self.messages -= routed
        self._ack_waits.acknowledge(last_seq)
        self.window = min(self._config.window, self.window * 2)
        if self._barrier_wanted and self._inflight:
            self._barrier_wanted = False
            self._ask_barrier()
        if self._settle_timer is None:
            self._settle_timer = self._loop.call_later(SETTLE_SECONDS, self._settle)
        if self._unsent:  # copies now due, or stanzas the window held back
            self._pump_wakeup.set()

    def _settle(self) -> None:
        self._settle_timer = None
        cutoff, settling = time.monotonic() - SETTLE_SECONDS, self._settling
        if settling and settling[0][3] <= cutoff:
            while settling and settling[0][3] <= cutoff:
                settled_upto = settling.popleft()[1]
            self._settled_upto = settled_upto
        if self._settled_upto is not None:
            self._schedule_commit()
        if self._settling:
            # Look again when the oldest is due, but not sooner than the next sweep. (Always
            # again: the loop's timer may fire a little before the monotonic clock gets there,
            # as uvloop rounds to milliseconds, and the last rows of a burst must not stay in
            # the outbox until the next traffic, to be sent twice after a restart.)
            wait = self._settling[0][3] + SETTLE_SECONDS - time.monotonic()
            self._settle_timer = self._loop.call_later(
                max(wait, SETTLE_SECONDS / SETTLE_SWEEPS), self._settle)

    def _link_lost(self) -> None:
        """Everything written but not settled goes back to the front, in order."""
        replayed = sum(routed[2] for routed in self._settling) + len(self._inflight)
        self._barrier, self._barrier_wanted = None, False  # it fails with the link
        self._cancel_paced_barrier()
        if self._inflight:
            self.window = max(MIN_WINDOW, self.window // 2)
        self._unsent.extendleft(reversed(self._inflight))
        self._inflight.clear()
        self._read_back += self._settling  # older than the rest: in front of it (_pump)
        self._settling.clear()
        self.replays += replayed
        if replayed:
            log.warning("link lost: %d stanzas will be sent again (window now %d)",
                        replayed, self.window)
        self._ack_waits.stop_all()  # their callers hear "queued"; the stanzas are replayed
        self._release_backlog_waiters()  # with the link down the outbox takes them

    def _lowest_pending_seq(self) -> int:
        if self._read_back:
            return self._read_back[0][0]
        for queue in (self._inflight, self._unsent, self._group.entries):
            if queue:
                return queue[0].seq
        return self._seq + 1


def _resolve(waiters: list[asyncio.Future[bool]], committed: bool) -> None:
    for waiter in waiters:
        if not waiter.done():  # its caller was canceled
            waiter.set_result(committed)
