"""Callers waiting for their acknowledgement: ended by the barrier, a link drop or a deadline.

A caller that waits for the barrier (no outbox, or `?wait=N`) hears "routed" when a barrier
covering its last stanza returns, and "queued" when the link drops or its deadline passes.
A timer per request cost more than the rest of the delivery's work for it (uvloop's
call_later and cancel: some 3,600 instructions a request), and a heap of deadlines some 800
more (its tuple comparisons): the waits sit in one queue in stanza order, which is the order
barriers acknowledge them in, and one timer is armed for the earliest deadline. Deadlines
rarely pass (only when the server is slow or gone), so the timer's pass over the queue is
rare; the queue holds about the requests in flight.
"""

from __future__ import annotations

import asyncio
from collections import deque

# uvloop runs timers in whole milliseconds and may fire one a little early: a deadline this
# close counts as reached, so the timer does not fire again and again within the millisecond.
EARLY = 0.001

# (seq of the request's last stanza, deadline in loop time, the future its caller awaits)
Wait = tuple[int, float, asyncio.Future[bool]]


class AckWaits:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waits: deque[Wait] = deque()  # in seq order: as acknowledged
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def add(self, acked: asyncio.Future[bool], seq: int, seconds: float) -> None:
        """Resolve `acked` with True once `seq` is acknowledged, with False after `seconds`
        or when the link drops. Waits are added in seq order (as their stanzas are numbered)."""
        deadline = self._loop.time() + seconds
        self._waits.append((seq, deadline, acked))
        if self._timer is None or deadline < self._timer_at:
            self._arm(deadline)

    def acknowledge(self, upto: int) -> None:
        """A barrier returned: the waits up to seq `upto` end as routed."""
        waits = self._waits
        while waits and waits[0][0] <= upto:
            acked = waits.popleft()[2]
            if not acked.done():  # else its deadline passed, or its caller was canceled
                acked.set_result(True)

    def stop_all(self) -> None:
        """The link dropped: every wait ends as queued (the stanzas are replayed)."""
        waits, self._waits = self._waits, deque()
        for _, _, acked in waits:
            if not acked.done():
                acked.set_result(False)

    def _arm(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = self._loop.call_at(deadline, self._expire), deadline

    def _expire(self) -> None:
        self._timer = None
        due = self._loop.time() + EARLY
        for _, deadline, acked in self._waits:
            if deadline <= due and not acked.done():
                acked.set_result(False)
        self._waits = waiting = deque(wait for wait in self._waits if not wait[2].done())
        if waiting:
            self._arm(min(deadline for _, deadline, _ in waiting))
