"""The outbox: every accepted message or presence, kept until the server routed it.

Stanzas are written in seq order and acknowledged in seq order (one stream, one barrier after a
batch), so "acknowledged" is always a prefix. A transaction writes one row for all its stanzas,
keyed by the last one's seq (outbox_file.py): deleting is `DELETE WHERE seq <= mark`, and a
row leaves once every stanza in it is acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import msgspec

from component.store.db import Database
from component.store.outbox_file import open_outbox_file, outbox_path
from component.xmpp.fragment import parse_stored
from component.xmpp.stanza_values import OutboxRow

T = TypeVar("T")
log = logging.getLogger(__name__)
# Stanzas written between checkpoints: some hundreds of WAL pages (SQLite checkpoints at 1000).
CHECKPOINT_ROWS = 2000


# A row's `parts`: the seqs of its stanzas and the length of each, in order (NULL for a row of
# one stanza, whose seq is the row's). Encoded into a bytearray: the sqlite3 module binds one
# at once (see commit).
_encode_parts = msgspec.msgpack.Encoder().encode_into
_decode_parts = msgspec.msgpack.Decoder(tuple[list[int], list[int]]).decode


def stored_row(rows: Sequence[OutboxRow]) -> tuple[int, bytearray, bytearray | None]:
    """The outbox row that keeps these stanzas (seq order): (seq, data, parts)."""
    if len(rows) == 1:
        row = rows[0]
        return row.seq, bytearray(row.stanza.data), None
    data = [row.stanza.data for row in rows]
    parts = bytearray()
    _encode_parts(([row.seq for row in rows], list(map(len, data))), parts)
    return rows[-1].seq, bytearray().join(data), parts


def stored_stanzas(seq: int, data: bytes, parts: bytes | None) -> list[tuple[int, bytes]]:
    """The (seq, bytes) of each stanza an outbox row keeps; ValueError when its parts do not
    describe its data."""
    if parts is None:
        return [(seq, data)]
    seqs, lengths = _decode_parts(parts)
    if len(seqs) != len(lengths) or sum(lengths) != len(data) or seqs[-1:] != [seq]:
        raise ValueError(f"its parts ({len(seqs)} seqs, {sum(lengths)} bytes) do not match "
                         f"its {len(data)} bytes")
    stanzas, start = [], 0
    for member, length in zip(seqs, lengths, strict=True):
        stanzas.append((member, data[start:start + length]))
        start += length
    return stanzas


class SqliteOutbox:
    """Group transactions on the outbox file's one connection (outbox_file.py), on the event
    loop's thread.

    A group's transaction is a few inserts and a range delete, under a millisecond, and
    commits without a sync (WAL, synchronous=NORMAL). Run on the loop it costs no thread
    hops: handing it to a thread and back cost two wake-ups per group, more than the
    transaction itself, and at a steady thousand requests a second every request was a group.
    It takes no lock either: the connection holds the file's for good. What could stall the
    loop is kept off it, on the writer thread: every CHECKPOINT_ROWS stanzas the WAL is copied
    into the file and synced, on the same connection (no other may open the file). While
    the writer thread has work, groups queue behind it there, so the connection is never
    used from two threads at once; the loop serves on meanwhile.
    No other coroutine's statement can land inside a transaction: it runs whole, in one call.

    With `synchronous="full"` ([store] synchronous) each commit also syncs the WAL, so that
    a power cut or a kernel crash cannot take back what was answered; a sync waits on the
    disk, so then every transaction runs on the writer thread and the loop serves on.
    """

    def __init__(self, db: Database, *, synchronous: str = "normal",
                 clock: Callable[[], float] = time.time) -> None:
        self._store = db.path
        self._clock = clock
        self._full_sync = synchronous == "full"
        self._writer: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._rows_since_checkpoint = 0
        self._checkpoint: asyncio.Future[None] | None = None
        # The last job handed to the writer thread: the loop may use the connection once
        # it is done (one thread, first in first out: every earlier job is done too).
        self._writer_job: asyncio.Future[Any] | None = None

    async def open(self) -> None:
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="outbox-writer")
        self._conn = await self._on_writer(
            lambda: open_outbox_file(self._store, full_sync=self._full_sync))

    async def close(self) -> None:
        if self._checkpoint is not None:
            with contextlib.suppress(Exception):
                await self._checkpoint
        if self._writer is not None:
            if self._conn is not None:
                await self._on_writer(self._conn.close)
            self._writer.shutdown(wait=True)
        self._writer, self._conn, self._writer_job = None, None, None

    async def _on_writer(self, call: Callable[[], T]) -> T:
        assert self._writer is not None, "SqliteOutbox.open() first"
        job: asyncio.Future[T] = asyncio.get_running_loop().run_in_executor(self._writer, call)
        self._writer_job = job
        return await job

    def _connection(self) -> sqlite3.Connection:
        assert self._conn is not None, "SqliteOutbox.open() first"
        return self._conn

    async def last_seq(self) -> int:
        """The highest pending row's sequence number (0 for an empty outbox: then the
        delivery may start anywhere, nothing is left to be ordered after)."""
        row = await self._on_writer(
            lambda: self._connection().execute("SELECT max(seq) FROM outbox").fetchone())
        return int(row[0]) if row and row[0] is not None else 0

    async def load(self, only: Collection[int] | None = None) -> list[OutboxRow]:
        """Everything not yet acknowledged, oldest first (replayed after a restart), or the
        rows of the seqs in `only`; each stanza read back from its bytes (on the loop's
        thread: the parser is the loop's). Only those asked for are parsed: a replay after a
        lost link wants a few settled rows among every pending one."""
        rows = await self._on_writer(lambda: self._connection().execute(
            "SELECT seq, data, parts FROM outbox ORDER BY seq").fetchall())
        loaded = []
        for row_seq, row_data, parts in rows:
            # Only a damaged file holds a row or stanza that cannot be read back (every row
            # was built and checked by us): refusing to start over it would hold back every
            # other pending row, and it could never be sent anyway. It leaves with the next
            # acknowledged range (DELETE WHERE seq <= mark).
            try:
                stanzas = stored_stanzas(row_seq, row_data, parts)
            except ValueError as exc:
                log.error("outbox row %d cannot be read back, dropped: %s", row_seq, exc)
                continue
            for seq, data in stanzas:
                if only is not None and seq not in only:
                    continue
                try:
                    stanza = parse_stored(bytes(data))
                except ValueError as exc:
                    log.error("outbox row %d cannot be read back, dropped: %s", seq, exc)
                    continue
                loaded.append(OutboxRow(int(seq), stanza))
        return loaded

    def commits_on_loop(self) -> bool:
        """Whether a transaction may run now, on the loop's thread: no sync per commit, and
        nothing left for the writer thread (one connection: jobs there come first)."""
        job = self._writer_job
        return not self._full_sync and (job is None or job.done())

    def commit_on_loop(self, new: Sequence[OutboxRow], acked_upto: int | None,
                       accepted_keys: Sequence[str], *,
                       forget_before: float | None = None) -> None:
        """`commit`, run here and now; only when `commits_on_loop()`."""
        self._transaction(*self._statements(new, acked_upto, accepted_keys, forget_before))
        self._written(len(new), acked_upto)

    async def commit(self, new: Sequence[OutboxRow], acked_upto: int | None,
                     accepted_keys: Sequence[str], *,
                     forget_before: float | None = None) -> None:
        """One transaction for a whole group of requests: their row, acked deletes, ids (and
        remembered ids older than `forget_before` dropped); on the writer thread when the
        loop's thread may not run it (`commits_on_loop`)."""
        statements = self._statements(new, acked_upto, accepted_keys, forget_before)
        if self.commits_on_loop():
            self._transaction(*statements)
        else:
            await self._on_writer(lambda: self._transaction(*statements))
        self._written(len(new), acked_upto)

    def _statements(self, new: Sequence[OutboxRow], acked_upto: int | None,
                    accepted_keys: Sequence[str], forget_before: float | None
                    ) -> tuple[tuple[int, bytearray, bytearray | None] | None, int | None,
                               list[tuple[float, str]], float | None]:
        """A transaction's values, bound as they are (see `_transaction`)."""
        # The data goes in as a bytearray: the sqlite3 module binds bytes only after it has
        # looked for an adapter, and that look-up raises and swallows an AttributeError per
        # value (some 2,000 instructions); a bytearray is bound at once, and read back as bytes.
        row = stored_row(new) if new else None
        if accepted_keys:
            now = self._clock()
            keys = [(now, key) for key in accepted_keys]
        else:
            keys = []
        return row, acked_upto, keys, forget_before

    def _written(self, stanzas: int, acked_upto: int | None) -> None:
        """Count what the WAL grew by (stanzas, not rows); checkpoint when it is due."""
        self._rows_since_checkpoint += stanzas + (acked_upto is not None)
        if self._rows_since_checkpoint >= CHECKPOINT_ROWS and self._checkpoint is None:
            self._rows_since_checkpoint = 0
            self._checkpoint = asyncio.ensure_future(self._synced_checkpoint())
            self._checkpoint.add_done_callback(self._checkpoint_done)

    def _transaction(self, row: tuple[int, bytearray, bytearray | None] | None,
                     acked_upto: int | None, keys: Sequence[tuple[float, str]],
                     forget_before: float | None) -> None:
        conn = self._connection()
        conn.execute("BEGIN")  # the file's lock is this connection's already
        try:
            if row is not None:
                conn.execute("INSERT INTO outbox (seq, data, parts) VALUES (?, ?, ?)", row)
            if acked_upto is not None:
                conn.execute("DELETE FROM outbox WHERE seq <= ?", (acked_upto,))
            if keys:
                conn.executemany(
                    "INSERT OR IGNORE INTO accepted_ids (accepted_at, key) VALUES (?, ?)",
                    keys)
            if forget_before is not None:
                conn.execute("DELETE FROM accepted_ids WHERE accepted_at < ?", (forget_before,))
            # A COMMIT statement from the connection's cache: `with conn` (conn.commit())
            # parses "COMMIT" anew each time, 6k instructions of every transaction.
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # a failed COMMIT leaves it open too
                conn.execute("ROLLBACK")
            raise

    async def _synced_checkpoint(self) -> None:
        """Sync the WAL first, on a thread of its own and without the connection, then
        checkpoint on the writer thread. A checkpoint syncs the WAL before it copies it, and
        groups queue behind a checkpoint (the connection is one): at a steady thousand
        requests a second each commit appends a 16 KiB frame, the WAL had megabytes to flush,
        and answers waited for it (HTTP p99 13 ms). Synced beforehand, while commits go on,
        the checkpoint's own sync finds only what came meanwhile."""
        await asyncio.get_running_loop().run_in_executor(None, self._sync_wal)
        await self._on_writer(self._checkpoint_wal)

    def _sync_wal(self) -> None:
        try:
            descriptor = os.open(f"{outbox_path(self._store)}-wal", os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def _checkpoint_wal(self) -> None:
        """Copy the WAL into the file and sync both (on the writer thread)."""
        self._connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _checkpoint_done(self, future: asyncio.Future[None]) -> None:
        self._checkpoint = None
        if not future.cancelled() and future.exception() is not None:
            log.warning("outbox checkpoint failed (the next one retries): %s",
                        future.exception())

    async def accepted_ids(self) -> list[tuple[str, float]]:
        """Every remembered caller-supplied id with its time, oldest first, each once (read
        at start)."""
        rows = await self._on_writer(lambda: self._connection().execute(
            "SELECT key, accepted_at FROM accepted_ids ORDER BY accepted_at").fetchall())
        seen: set[str] = set()
        first = []
        for key, accepted_at in rows:
            if key not in seen:
                seen.add(key)
                first.append((str(key), float(accepted_at)))
        return first

    async def prune_accepted(self, older_than: float) -> None:
        def prune() -> None:
            with self._connection() as conn:
                conn.execute("BEGIN")
                conn.execute("DELETE FROM accepted_ids WHERE accepted_at < ?", (older_than,))
        await self._on_writer(prune)
