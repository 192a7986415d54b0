"""The outbox table: every accepted message or presence, kept until the server routed it.

Rows are written in seq order and acknowledged in seq order (one stream, one barrier after a
batch), so "acknowledged" is always a prefix: deleting is `DELETE WHERE seq <= mark`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from component.jid import Jid
from component.store.db import FILE_PRAGMAS, Database, run
from component.xmpp.stanzas import Stanza

T = TypeVar("T")
log = logging.getLogger(__name__)
# Rows written between checkpoints: some hundreds of WAL pages (SQLite checkpoints at 1000).
CHECKPOINT_ROWS = 2000


@dataclass(slots=True)
class OutboxRow:
    seq: int
    stanza: Stanza


class SqliteOutbox:
    """Group transactions on a connection of the outbox's own, on the event loop's thread.

    A group's transaction is a few inserts and a range delete, under a millisecond, and
    commits without a sync (WAL, synchronous=NORMAL). Run on the loop it costs no thread
    hops: handing it to a thread and back cost two wake-ups per group, more than the
    transaction itself, and at a steady thousand requests a second every request was a group.
    What could stall the loop is kept off it:
    * the lock: the loop only tries it (busy_timeout 0); when another connection of the
      file holds it, the group waits for it on the writer thread instead;
    * the syncs: the connection never checkpoints; the writer thread does, on a connection
      of its own, every CHECKPOINT_ROWS rows.
    No other coroutine's statement can land inside a transaction: it runs whole, in one call.

    With `synchronous="full"` ([store] synchronous) each commit also syncs the WAL, so that
    a power cut or a kernel crash cannot take back what was answered; a sync waits on the
    disk, so then every transaction runs on the writer thread and the loop serves on.
    """

    def __init__(self, db: Database, *, synchronous: str = "normal",
                 clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._full_sync = synchronous == "full"
        self._writer: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._checkpointer: sqlite3.Connection | None = None
        self._rows_since_checkpoint = 0
        self._checkpoint: asyncio.Future[None] | None = None
        self.waited_for_lock = 0  # groups that found the lock taken (tests, diagnostics)

    async def open(self) -> None:
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="outbox-writer")
        self._conn = self._connect(autocheckpoint=False)
        self._checkpointer = await self._on_writer(lambda: self._connect(autocheckpoint=True))

    async def close(self) -> None:
        if self._checkpoint is not None:
            with contextlib.suppress(Exception):
                await self._checkpoint
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._writer is not None:
            if self._checkpointer is not None:
                await self._on_writer(self._checkpointer.close)
            self._writer.shutdown(wait=True)
            self._writer, self._checkpointer = None, None

    def _connect(self, *, autocheckpoint: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(self._db.path, isolation_level=None, check_same_thread=False)
        pragmas = list(FILE_PRAGMAS)
        # The checkpointer copies pages through, it reads nothing twice: a small cache.
        pragmas += ["busy_timeout = 5000", "cache_size = -256"] if autocheckpoint else \
            ["busy_timeout = 0", "wal_autocheckpoint = 0"]
        if self._full_sync and not autocheckpoint:
            pragmas.append("synchronous = FULL")
        for pragma in pragmas:
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
        now = self._clock()
        rows = [(r.seq, r.stanza.id, r.stanza.kind, str(r.stanza.sender),
                 str(r.stanza.recipient), r.stanza.data, now) for r in new]
        keys = [(key, now) for key in accepted_keys]
        if self._full_sync:
            await self._on_writer(lambda: self._waiting(rows, acked_upto, keys, forget_before))
        else:
            await self._on_loop(rows, acked_upto, keys, forget_before)
        self._rows_since_checkpoint += len(rows) + (acked_upto is not None)
        if self._rows_since_checkpoint >= CHECKPOINT_ROWS and self._checkpoint is None:
            self._rows_since_checkpoint = 0
            self._checkpoint = asyncio.ensure_future(self._on_writer(self._checkpoint_wal))
            self._checkpoint.add_done_callback(self._checkpoint_done)

    async def _on_loop(self, rows: Sequence[tuple[object, ...]], acked_upto: int | None,
                       keys: Sequence[tuple[str, float]], forget_before: float | None) -> None:
        try:
            self._transaction(rows, acked_upto, keys, forget_before)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
            # Rolled back whole: wait for the lock where waiting stalls nothing.
            self.waited_for_lock += 1
            await self._on_writer(lambda: self._waiting(rows, acked_upto, keys, forget_before))

    def _waiting(self, rows: Sequence[tuple[object, ...]], acked_upto: int | None,
                 keys: Sequence[tuple[str, float]], forget_before: float | None) -> None:
        conn = self._conn
        assert conn is not None
        conn.execute("PRAGMA busy_timeout = 5000")
        try:
            self._transaction(rows, acked_upto, keys, forget_before)
        finally:
            conn.execute("PRAGMA busy_timeout = 0")

    def _transaction(self, rows: Sequence[tuple[object, ...]], acked_upto: int | None,
                     keys: Sequence[tuple[str, float]], forget_before: float | None) -> None:
        conn = self._conn
        assert conn is not None
        with conn:  # BEGIN ... COMMIT, or ROLLBACK on an exception
            conn.execute("BEGIN IMMEDIATE")  # the lock first: nothing is done before it
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

    def _checkpoint_wal(self) -> None:
        """Copy the WAL into the file (and sync both) without blocking writers."""
        assert self._checkpointer is not None
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _checkpoint_done(self, future: asyncio.Future[None]) -> None:
        self._checkpoint = None
        if not future.cancelled() and future.exception() is not None:
            log.warning("outbox checkpoint failed (the next one retries): %s",
                        future.exception())

    async def accepted_ids(self) -> list[tuple[str, float]]:
        """Every remembered caller-supplied id with its time, oldest first (read at start)."""
        async with self._db.conn.execute(
                "SELECT key, accepted_at FROM accepted_ids ORDER BY accepted_at") as cursor:
            return [(str(row[0]), float(row[1])) for row in await cursor.fetchall()]

    async def prune_accepted(self, older_than: float) -> None:
        await run(self._db.conn, "DELETE FROM accepted_ids WHERE accepted_at < ?", (older_than,))
