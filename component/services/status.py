"""What the `status` ad-hoc command reports: link state, queue depth, counts, uptime.

The numbers come from small callables wired in `app.py`, so this knows no link, outbox or
store.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Count = Callable[[], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class StatusReport:
    link: str
    queue_depth: int
    rooms: int
    cached_users: int
    uptime: float  # seconds
    hosts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StatusSources:
    link_state: Callable[[], str]
    queue_depth: Callable[[], int]
    rooms: Count
    cached_users: Count
    hosts: Callable[[], list[str]]


class StatusService:
    def __init__(self, sources: StatusSources,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._sources = sources
        self._clock = clock
        self._started = clock()

    async def report(self) -> StatusReport:
        s = self._sources
        return StatusReport(link=s.link_state(), queue_depth=s.queue_depth(),
                            rooms=await s.rooms(), cached_users=await s.cached_users(),
                            uptime=self._clock() - self._started, hosts=tuple(s.hosts()))
