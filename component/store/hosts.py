"""User domains added at runtime (add_host), kept across restarts in the `hosts` table."""

from __future__ import annotations

import time
from collections.abc import Callable

from component.store.db import Database, run


class HostStore:
    def __init__(self, db: Database) -> None:
        self._conn = db.conn

    async def all(self) -> list[str]:
        async with self._conn.execute("SELECT domain FROM hosts ORDER BY added_at") as cursor:
            return [str(row[0]) for row in await cursor.fetchall()]

    async def add(self, domain: str) -> None:
        await run(self._conn, "INSERT OR IGNORE INTO hosts (domain, added_at) VALUES (?, ?)",
                                 (domain, time.time()))

    async def watch(self, serve: Callable[[str], None]) -> None:
        """One daemon owns this file: no other adds hosts to it behind our back."""
