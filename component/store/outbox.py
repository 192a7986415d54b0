"""The outbox table: every accepted message or presence, kept until the server routed it.

Rows are written in seq order and acknowledged in seq order (one stream, one barrier after a
batch), so "acknowledged" is always a prefix: deleting is `DELETE WHERE seq <= mark`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from component.jid import Jid
from component.store.db import Database
from component.xmpp.stanzas import Stanza


@dataclass(slots=True)
class OutboxRow:
    seq: int
    stanza: Stanza


class SqliteOutbox:
    def __init__(self, db: Database) -> None:
        self._db = db

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
        conn = self._db.conn
        await conn.execute("BEGIN")
        try:
            if new:
                await conn.executemany(
                    "INSERT INTO outbox (seq, stanza_id, kind, sender, recipient, data,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(r.seq, r.stanza.id, r.stanza.kind, str(r.stanza.sender),
                      str(r.stanza.recipient), r.stanza.data, now) for r in new])
            if acked_upto is not None:
                await conn.execute("DELETE FROM outbox WHERE seq <= ?", (acked_upto,))
            if accepted_keys:
                await conn.executemany(
                    "INSERT OR IGNORE INTO accepted_ids (key, accepted_at) VALUES (?, ?)",
                    [(key, now) for key in accepted_keys])
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise

    async def accepted_keys(self) -> list[str]:
        """Every remembered caller-supplied id (loaded once, at start)."""
        async with self._db.conn.execute("SELECT key FROM accepted_ids") as cursor:
            return [str(row[0]) for row in await cursor.fetchall()]

    async def prune_accepted(self, older_than: float) -> None:
        await self._db.conn.execute("DELETE FROM accepted_ids WHERE accepted_at < ?",
                                    (older_than,))
