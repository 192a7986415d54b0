"""Rebuilding rooms and affiliations from the server (DESIGN.md §6).

Lists the MUC service (disco#items), then reads each room (configuration, affiliation lists,
subscriptions) with a bounded number of iqs in flight, room by room under the room's lock, so
requests are never blocked for more than one room's read. Runs at start and after every
reconnect (a drop may have lost state) as a background task, and on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from component.errors import ApiError, LinkDown
from component.jid import Jid
from component.rooms.requests import ResyncReport
from component.services.concurrency import gather_bounded
from component.services.room_directory import RoomDirectory
from component.services.room_ports import MucServer

log = logging.getLogger(__name__)


class RoomResync:
    def __init__(self, directory: RoomDirectory, bulk: MucServer, *, rooms_at_once: int = 8
                 ) -> None:
        self._directory = directory
        self._bulk = bulk  # a MucServer over a BoundedIq: the resync's own iq budget
        self._rooms_at_once = rooms_at_once
        self._running = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self.last: ResyncReport | None = None

    def trigger(self) -> None:
        """Start a resync in the background; during one, ask for another after it."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._again = False
        self._task = asyncio.create_task(self._background(), name="room-resync")

    async def _background(self) -> None:
        while True:
            try:
                await self.run()
            except LinkDown:
                log.info("room resync interrupted: the link dropped")
            except ApiError as exc:
                log.warning("room resync failed: %s", exc.message)
            except Exception:
                log.exception("room resync failed")
            if not self._again:
                return
            self._again = False

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait(self) -> None:
        """Until the background resync (if any) is over."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)

    async def run(self, max_age: float = 0.0) -> ResyncReport:
        """Read every room not read in the last `max_age` seconds; drop the rooms gone."""
        async with self._running:
            clock = self._directory.clock
            started = clock()
            listed = await self._bulk.list_rooms()
            known = await self._directory.store.synced_at()
            stale = [room for room in listed
                     if room not in known or started - known[room] >= max_age]
            on_server = set(listed)
            missing = [room for room in known if room not in on_server]
            results = await gather_bounded((self._sync(room, started) for room in
                                            [*stale, *missing]), self._rooms_at_once)
            report = ResyncReport(
                rooms=len(listed), synced=results.count("synced"),
                removed=results.count("removed"), failed=results.count("failed"),
                seconds=round(clock() - started, 3))
            self.last = report
            log.info("room resync: %d rooms listed, %d read, %d gone, %d failed in %.2f s",
                     report.rooms, report.synced, report.removed, report.failed,
                     report.seconds)
            return report

    async def _sync(self, room: Jid, started: float) -> str:
        async with self._directory.locks.hold(room):
            cached = await self._directory.store.get(room)
            if cached is not None and cached.synced_at > started:
                return "synced"  # changed by a request meanwhile, so already current
            try:
                present = await self._directory.refresh(room, self._bulk)
            except LinkDown:
                raise
            except ApiError as exc:
                log.warning("room resync: %s: %s", room, exc.message)
                return "failed"
        return "synced" if present else "removed"

