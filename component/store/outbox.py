"""The outbox table: every accepted message or presence, kept until the server routed it.

Rows are written in seq order and acknowledged in seq order (one stream, one barrier after a
batch), so "acknowledged" is always a prefix: deleting is `DELETE WHERE seq <= mark`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from component.jid import Jid
from component.store.db import Database, run
from component.xmpp.stanzas import Stanza

T = TypeVar("T")


@dataclass(slots=True)
class OutboxRow:
    seq: int
    stanza: Stanza


class SqliteOutbox:
    """Group transactions run whole on a writer thread of the outbox's own.

    One hop to that thread per group (not one per statement, as through aiosqlite) keeps the
    event loop's share of a commit small; and a connection nobody else uses means no other
    coroutine's statement can land inside the outbox's transaction.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._writer: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="outbox-writer")
        self._conn = await self._on_writer(self._connect)

    async def close(self) -> None:
        if self._writer is not None:
            if self._conn is not None:
                await self._on_writer(self._conn.close)
            self._writer.shutdown(wait=True)
            self._writer, self._conn = None, None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._db.path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "busy_timeout = 5000"):
            conn.execute(f"PRAGMA {pragma}")
        return conn

    async def _on_writer(self, call: Callable[[], T]) -> T:
        assert self._writer is not None, "SqliteOutbox.open() first"
        return await asyncio.get_running_loop().run_in_executor(self._writer, call)

    async def last_seq(self) -> int:
        async with self._db.conn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def load(self) -> list[OutboxRow]:
        """Everything not yet acknowledged, oldest first (replayed after a restart)."""
        async with self._db.conn.execute(
                "SELECT seq, stanza_id, kind, sender, recipient, data FROM outbox "
                "ORDER BY seq") as cursor:
            rows = await cursor.fetchall()
        return [OutboxRow(int(r[0]), Stanza(r[2], r[1], Jid.parse(r[3]), Jid.parse(r[4]),
                                            bytes(r[5]))) for r in rows]

    async def commit(self, new: Sequence[OutboxRow], acked_upto: int | None,
                     accepted_keys: Sequence[str], *,
                     forget_before: float | None = None) -> None:
        """One transaction for a whole group of requests: inserts, acked deletes, ids (and
        remembered ids older than `forget_before` dropped)."""
        now = time.time()
        rows = [(r.seq, r.stanza.id, r.stanza.kind, str(r.stanza.sender),
                 str(r.stanza.recipient), r.stanza.data, now) for r in new]
        keys = [(key, now) for key in accepted_keys]
        await self._on_writer(lambda: self._commit(rows, acked_upto, keys, forget_before))

    def _commit(self, rows: Sequence[tuple[object, ...]], acked_upto: int | None,
                keys: Sequence[tuple[str, float]], forget_before: float | None) -> None:
        conn = self._conn
        assert conn is not None
        with conn:  # BEGIN ... COMMIT, or ROLLBACK on an exception
            conn.execute("BEGIN")
            if rows:
                conn.executemany(
                    "INSERT INTO outbox (seq, stanza_id, kind, sender, recipient, data,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            if acked_upto is not None:
                conn.execute("DELETE FROM outbox WHERE seq <= ?", (acked_upto,))
            if keys:
                conn.executemany(
                    "INSERT OR IGNORE INTO accepted_ids (key, accepted_at) VALUES (?, ?)", keys)
            if forget_before is not None:
                conn.execute("DELETE FROM accepted_ids WHERE accepted_at < ?", (forget_before,))

    async def accepted_ids(self) -> list[tuple[str, float]]:
        """Every remembered caller-supplied id with its time, oldest first (read at start)."""
        async with self._db.conn.execute(
                "SELECT key, accepted_at FROM accepted_ids ORDER BY accepted_at") as cursor:
            return [(str(row[0]), float(row[1])) for row in await cursor.fetchall()]

    async def prune_accepted(self, older_than: float) -> None:
        await run(self._db.conn, "DELETE FROM accepted_ids WHERE accepted_at < ?", (older_than,))
