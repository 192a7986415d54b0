"""The outbox table: every accepted message or presence, kept until the server routed it.

Rows are written in seq order and acknowledged in seq order (one stream, one barrier after a
batch), so "acknowledged" is always a prefix: deleting is `DELETE WHERE seq <= mark`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite

from component.jid import Jid
from component.store.db import Database, run, run_many
from component.xmpp.stanzas import Stanza


@dataclass(slots=True)
class OutboxRow:
    seq: int
    stanza: Stanza


class SqliteOutbox:
    """Its group transactions run on a private connection (see Database.private_connection)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._conn: aiosqlite.Connection | None = None

    async def open(self) -> None:
        self._conn = await self._db.private_connection()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

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
                     accepted_keys: Sequence[str]) -> None:
        """One transaction for a whole group of requests: inserts, acked deletes, ids."""
        now = time.time()
        conn = self._conn
        assert conn is not None, "SqliteOutbox.open() first"
        await run(conn, "BEGIN")
        try:
            if new:
                await run_many(
                    conn, "INSERT INTO outbox (seq, stanza_id, kind, sender, recipient, data,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(r.seq, r.stanza.id, r.stanza.kind, str(r.stanza.sender),
                      str(r.stanza.recipient), r.stanza.data, now) for r in new])
            if acked_upto is not None:
                await run(conn, "DELETE FROM outbox WHERE seq <= ?", (acked_upto,))
            if accepted_keys:
                await run_many(
                    conn, "INSERT OR IGNORE INTO accepted_ids (key, accepted_at) VALUES (?, ?)",
                    [(key, now) for key in accepted_keys])
            await run(conn, "COMMIT")
        except BaseException:
            await run(conn, "ROLLBACK")
            raise

    async def accepted_keys(self) -> list[str]:
        """Every remembered caller-supplied id (loaded once, at start)."""
        async with self._db.conn.execute("SELECT key FROM accepted_ids") as cursor:
            return [str(row[0]) for row in await cursor.fetchall()]

    async def prune_accepted(self, older_than: float) -> None:
        await run(self._db.conn, "DELETE FROM accepted_ids WHERE accepted_at < ?", (older_than,))
