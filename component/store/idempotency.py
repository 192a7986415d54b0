"""The first answer to each Idempotency-Key, kept for a while so that a retry gets it again."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from component.store.db import Database, run

DEFAULT_TTL = 24 * 3600.0  # a day: longer than any sensible retry schedule of a caller


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status: int
    body: bytes
    request_sha256: str  # of the request body: a key reused for another request is refused


class IdempotencyStore:
    def __init__(self, db: Database, *, ttl: float = DEFAULT_TTL,
                 clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self.ttl = ttl
        self._clock = clock

    async def claim(self, key: str) -> StoredAnswer | None:
        """The answer kept under `key`, unless it has expired (pruning may lag behind); None
        makes the key the caller's. One daemon owns this file, and its Idempotency step
        keeps a second run of a key waiting in memory, so a claim needs no mark here."""
        async with self._db.conn.execute(
                "SELECT status, body, request_sha256 FROM idempotency "
                "WHERE key = ? AND created_at >= ?", (key, self._clock() - self.ttl)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else StoredAnswer(int(row[0]), bytes(row[1]), str(row[2]))

    async def put(self, key: str, answer: StoredAnswer) -> None:
        # REPLACE: an expired row that pruning has not reached yet gives way to the new answer.
        await run(self._db.conn,
            "INSERT OR REPLACE INTO idempotency (key, status, body, request_sha256, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (key, answer.status, answer.body, answer.request_sha256, self._clock()))

    async def release(self, key: str) -> None:
        """Nothing was kept for a claim, so nothing is to be given up."""

    async def prune(self) -> int:
        """Forget expired answers; returns how many."""
        async with self._db.conn.execute(
                "DELETE FROM idempotency WHERE created_at < ?",
                (self._clock() - self.ttl,)) as cursor:
            return max(cursor.rowcount, 0)
