"""Opening the SQLite file: WAL, foreign keys, numbered migrations by PRAGMA user_version.

One connection for the whole process (aiosqlite runs it on its own thread); writers that
arrive together share one transaction where a module asks for it (group commit).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiosqlite

from component.store.migrations import MIGRATIONS
from component.store.outbox_file import outbox_path

log = logging.getLogger(__name__)


class Database:
    """Owns the connection; concern-specific stores take it in their constructors."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self.conn = connection
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = cls(await connect(path), path)
        await db.migrate()
        return db

    async def migrate(self) -> None:
        async with self.conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise RuntimeError(f"{self.path}: schema version {version} is newer than this "
                               f"daemon ({len(MIGRATIONS)}); refusing to touch it")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            log.info("migrating %s to schema version %d", self.path, number)
            await self.conn.executescript(
                f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")

    async def writable(self) -> bool:
        """Readiness probe: can a write transaction be taken right now?

        One script, so it runs as a single call on aiosqlite's thread: no other coroutine's
        statement can fall between the BEGIN and the ROLLBACK.
        """
        try:
            await self.conn.executescript("BEGIN IMMEDIATE; ROLLBACK;")
        except aiosqlite.Error:
            return False
        return True

    def size_bytes(self) -> int:
        """The file, the outbox's file and their WALs, in bytes (four stat calls: cheap
        enough for /metrics)."""
        total = 0
        outbox = outbox_path(self.path)
        for file in (self.path, Path(f"{self.path}-wal"), outbox, Path(f"{outbox}-wal")):
            if file.exists():
                total += file.stat().st_size
        return total

    async def close(self) -> None:
        await self.conn.close()


# How every connection to the store's file journals and syncs (the outbox has a file of its
# own), and the page cache of each: 512 KiB, not SQLite's 2 MB (1.5 MB less at peak, the
# same instructions per request under bench.hotpath).
FILE_PRAGMAS = ("journal_mode = WAL", "synchronous = NORMAL", "cache_size = -512")


async def connect(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = aiosqlite.Row
    for pragma in (*FILE_PRAGMAS, "foreign_keys = ON", "busy_timeout = 5000"):
        await run(conn, f"PRAGMA {pragma}")
    return conn


async def run(conn: aiosqlite.Connection, sql: str, parameters: Iterable[Any] = ()) -> int:
    """Execute one statement, close its cursor on aiosqlite's thread; the rows it changed.

    Never leave a cursor to the garbage collector (`await conn.execute(...)` alone): it is
    then reset on the event loop's thread while aiosqlite's thread may be stepping the same
    cached statement, and sqlite3 fails with "bad parameter or other API misuse" under
    concurrent requests (or worse, a COMMIT is cut short and the transaction stays open).
    """
    async with conn.execute(sql, parameters) as cursor:
        return cursor.rowcount


async def run_many(conn: aiosqlite.Connection, sql: str,
                   rows: Iterable[Iterable[Any]]) -> None:
    """`executemany`, with its cursor closed on aiosqlite's thread (see `run`)."""
    async with conn.executemany(sql, rows):
        pass
