"""The vCard cache (XEP-0054 answers kept for a while): nicks for muc_users and room
subscriptions, nick and avatar for get_user_nick.

`get` answers only entries younger than `fresh_for`; older ones are fetched again by the caller.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import aiosqlite

from component.jid import Jid
from component.store.db import Database, run_many


@dataclass(frozen=True, slots=True)
class VcardEntry:
    jid: Jid  # bare
    found: bool  # False: the server has no vCard for this JID
    nick: str = ""  # NICKNAME, else FN
    photo: str = ""  # an URL (EXTVAL), or "" when the photo is inline or absent
    photo_type: str = ""
    photo_data: bytes | None = None  # an inline (BINVAL) photo
    fetched_at: float = 0.0


class VcardCache:
    def __init__(self, db: Database, fresh_for: float = 3600.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._conn = db.conn
        self.fresh_for = fresh_for
        self._clock = clock

    async def get(self, jid: Jid) -> VcardEntry | None:
        """The cached entry if it is fresh, else None."""
        return (await self.get_many([jid])).get(jid.bare)

    async def get_many(self, jids: Iterable[Jid]) -> dict[Jid, VcardEntry]:
        """The fresh entries among `jids`, by bare JID."""
        keys = list(dict.fromkeys(str(jid.bare) for jid in jids))
        async with self._conn.execute(
                "SELECT jid, found, nick, photo, photo_type, photo_data, fetched_at FROM vcards "
                "WHERE fetched_at >= ? AND jid IN (SELECT value FROM json_each(?))",
                (self._clock() - self.fresh_for, json.dumps(keys))) as cursor:
            entries = [_entry(row) for row in await cursor.fetchall()]
        return {entry.jid: entry for entry in entries}

    async def put(self, entry: VcardEntry) -> None:
        await self.put_many([entry])

    async def put_many(self, entries: Iterable[VcardEntry]) -> None:
        now = self._clock()
        await run_many(
            self._conn,
            "INSERT OR REPLACE INTO vcards (jid, found, nick, photo, photo_type, photo_data, "
            "fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(str(e.jid.bare), int(e.found), e.nick, e.photo, e.photo_type, e.photo_data,
              e.fetched_at or now) for e in entries])


def _entry(row: aiosqlite.Row) -> VcardEntry:
    return VcardEntry(Jid.parse(row["jid"]), bool(row["found"]), row["nick"], row["photo"],
                      row["photo_type"], row["photo_data"], float(row["fetched_at"]))
