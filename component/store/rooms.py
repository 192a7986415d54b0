"""Rooms and affiliations in SQLite: a cache of the server's rooms plus what only we know.

The affiliations table is the reverse index "rooms of a user" (clear_staff) and keeps the time
each member joined (`since`), which orders the owner hand-over; a resync never loses it.
Every write is one statement (the shared connection runs in autocommit mode), so a write is
atomic on its own and a half-done sequence is repaired by the next resync.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import aiosqlite

from component.jid import Jid
from component.rooms.model import Affiliation, Member, Profile, Room, RoomOptions, RoomSnapshot
from component.store.db import Database, run, run_many

_UPSERT_MEMBER = """
    INSERT INTO affiliations (room, user, affiliation, nick, since) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (room, user) DO UPDATE SET affiliation = excluded.affiliation,
        nick = excluded.nick
"""


def _options_json(options: RoomOptions) -> str:
    return json.dumps({"public": options.public, "persistent": options.persistent,
                       "members_only": options.members_only, "max_users": options.max_users,
                       "allow_subscription": options.allow_subscription})


class SqliteRoomStore:
    """Rooms are also kept in memory (the most used ones): every groupchat asks for its room.

    This store is the only writer of its tables, so the memory copy stays true: a write drops
    the room from it, and a read overlapped by any write is not remembered (`_writes`)."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time, *,
                 cached_rooms: int = 1024) -> None:
        self._conn = db.conn
        self._clock = clock
        self._cache: OrderedDict[Jid, Room] = OrderedDict()
        self._cached_rooms = cached_rooms
        self._writes = 0

    async def get(self, room: Jid) -> Room | None:
        cached = self._cache.get(room)
        if cached is not None:
            self._cache.move_to_end(room)
            return cached
        writes = self._writes
        async with self._conn.execute("SELECT * FROM rooms WHERE jid = ?", (str(room),)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        async with self._conn.execute(
                "SELECT user, affiliation, nick, since FROM affiliations WHERE room = ? "
                "ORDER BY since, user", (str(room),)) as cur:
            members = tuple(_member(m) for m in await cur.fetchall())
        found = _room(row, members)
        if writes == self._writes:
            self._cache[room] = found
            if len(self._cache) > self._cached_rooms:
                self._cache.popitem(last=False)
        return found

    @contextlib.asynccontextmanager
    async def _writing(self, *rooms: Jid) -> AsyncIterator[None]:
        """Around every write: the rooms leave the memory copy, before and after."""
        self._writes += 1
        for room in rooms:
            self._cache.pop(room, None)
        try:
            yield
        finally:
            self._writes += 1
            for room in rooms:
                self._cache.pop(room, None)

    async def _run(self, room: Jid, sql: str, parameters: Sequence[Any]) -> None:
        async with self._writing(room):
            await run(self._conn, sql, parameters)

    async def _run_many(self, room: Jid, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self._writing(room):
            await run_many(self._conn, sql, rows)

    async def save_snapshot(self, room: Jid, snapshot: RoomSnapshot, *,
                            created_here: bool = False) -> None:
        """The server's view of a room replaces ours; `since` and the profile stay."""
        now = self._clock()
        options = snapshot.options
        await self._run(
            room,
            "INSERT INTO rooms (jid, name, description, options, created_here, created_at, "
            "synced_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (jid) DO UPDATE SET "
            "name = excluded.name, description = excluded.description, "
            "options = json_patch(rooms.options, excluded.options), "
            "synced_at = excluded.synced_at, "
            "created_here = max(rooms.created_here, excluded.created_here)",
            (str(room), options.name, options.description, _options_json(options),
             int(created_here), now, now))
        users = [str(jid) for jid, _ in snapshot.affiliations]
        await self._run(
            room,
            "DELETE FROM affiliations WHERE room = ? AND user NOT IN "
            "(SELECT value FROM json_each(?))", (str(room), json.dumps(users)))
        await self.put_members(room, [Member(jid, affiliation, snapshot.nicks.get(jid, ""), now)
                                      for jid, affiliation in snapshot.affiliations])

    async def put_members(self, room: Jid, members: Sequence[Member]) -> None:
        """Insert or update; an existing member keeps the time they joined (`since`)."""
        await self._run_many(room, _UPSERT_MEMBER, [
            (str(room), str(m.jid), m.affiliation, m.nick, m.since or self._clock())
            for m in members])

    async def set_affiliation(self, room: Jid, user: Jid, affiliation: Affiliation) -> None:
        await self._run(
            room,
            "UPDATE affiliations SET affiliation = ? WHERE room = ? AND user = ?",
            (affiliation, str(room), str(user)))

    async def remove_members(self, room: Jid, users: Sequence[Jid]) -> None:
        await self._run_many(room, "DELETE FROM affiliations WHERE room = ? AND user = ?",
                             [(str(room), str(user)) for user in users])

    async def put_options(self, room: Jid, options: RoomOptions) -> None:
        await self._run(
            room,
            "UPDATE rooms SET name = ?, description = ?, options = json_patch(options, ?) "
            "WHERE jid = ?",
            (options.name, options.description, _options_json(options), str(room)))

    async def put_profile(self, room: Jid, profile: Profile) -> None:
        await self._run(
            room,
            "UPDATE rooms SET picture = ?, version = ?, options = json_set(options, "
            "'$.title', ?) WHERE jid = ?",
            (profile.picture, profile.version, profile.title, str(room)))

    async def delete(self, room: Jid) -> None:
        await self._run(room, "DELETE FROM rooms WHERE jid = ?", (str(room),))

    async def rooms_of(self, user: Jid) -> list[Jid]:
        """The reverse index: every room where `user` has an affiliation."""
        async with self._conn.execute(
                "SELECT room FROM affiliations WHERE user = ? ORDER BY room",
                (str(user),)) as cur:
            return [_stored(row[0]) for row in await cur.fetchall()]

    async def synced_at(self) -> dict[Jid, float]:
        """Every known room and when the server's view of it was last read."""
        async with self._conn.execute("SELECT jid, synced_at FROM rooms") as cur:
            return {_stored(row[0]): float(row[1]) for row in await cur.fetchall()}


def _member(row: aiosqlite.Row) -> Member:
    return Member(_stored(row["user"]), row["affiliation"], row["nick"], float(row["since"]))


def _room(row: aiosqlite.Row, members: tuple[Member, ...]) -> Room:
    stored: dict[str, Any] = json.loads(row["options"] or "{}")
    options = RoomOptions(
        name=row["name"], description=row["description"],
        public=bool(stored.get("public", False)),
        persistent=bool(stored.get("persistent", True)),
        members_only=bool(stored.get("members_only", True)),
        max_users=stored.get("max_users"),
        allow_subscription=bool(stored.get("allow_subscription", True)))
    profile = Profile(title=str(stored.get("title", "")), picture=row["picture"],
                      version=int(row["version"]))
    return Room(_stored(row["jid"]), options, members, profile, bool(row["created_here"]),
                float(row["synced_at"]))


def _stored(text: str) -> Jid:
    """A bare JID this store wrote after it was checked (parses are cached: cheap)."""
    return Jid.parse(text)
