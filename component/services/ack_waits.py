"""How long callers wait for their acknowledgement: one timer for all of them.

A caller that waits for the barrier (no outbox, or `?wait=N`) stops waiting at its deadline
and hears "queued". A timer per request cost more than the rest of the delivery's work for
it (uvloop's call_later and cancel: some 3,600 instructions a request); here the deadlines
sit in a heap, and one timer is armed for the earliest. Acknowledgements come in order, and
most deadlines are `ack_timeout` after the request, so the acknowledged ones leave from the
heap's front as their barriers return (`prune`), and the heap holds about the requests in
flight.
"""

from __future__ import annotations

import asyncio
import heapq

# uvloop runs timers in whole milliseconds and may fire one a little early: a deadline this
# close counts as reached, so the timer does not fire again and again within the millisecond.
EARLY = 0.001


class AckWaits:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._deadlines: list[tuple[float, int, asyncio.Future[bool]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def add(self, acked: asyncio.Future[bool], seq: int, seconds: float) -> None:
        """Resolve `acked` with False after `seconds`, unless it is resolved before."""
        deadline = self._loop.time() + seconds
        heapq.heappush(self._deadlines, (deadline, seq, acked))
        if self._timer is None or deadline < self._timer_at:
            self._arm(deadline)

    def prune(self) -> None:
        """Drop the resolved waits at the front (after a barrier returned)."""
        deadlines = self._deadlines
        while deadlines and deadlines[0][2].done():
            heapq.heappop(deadlines)

    def _arm(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = self._loop.call_at(deadline, self._expire), deadline

    def _expire(self) -> None:
        self._timer = None
        deadlines, due = self._deadlines, self._loop.time() + EARLY
        while deadlines and (deadlines[0][0] <= due or deadlines[0][2].done()):
            acked = heapq.heappop(deadlines)[2]
            if not acked.done():
                acked.set_result(False)
        if deadlines:
            self._arm(deadlines[0][0])
