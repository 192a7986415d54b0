"""Small asyncio helpers for the room services: bounded fan-out and per-key locks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine, Hashable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


async def gather_bounded(coros: Iterable[Coroutine[Any, Any, T]], limit: int) -> list[T]:
    """Run the coroutines with at most `limit` at a time; results in the given order."""
    slots = asyncio.Semaphore(limit)

    async def run(coro: Coroutine[Any, Any, T]) -> T:
        async with slots:
            return await coro

    return list(await asyncio.gather(*(run(coro) for coro in coros)))


class KeyedLocks:
    """One lock per key (a room), dropped again when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
