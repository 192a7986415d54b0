"""Where the room services get a room: the store when it is fresh, else the server.

Every change to a room happens under that room's lock, so a resync of the room never writes
an older view over a change made meanwhile. Removal with owner hand-over lives here because
three endpoints share it (del_muc_user, management/del_muc_user, clear_staff).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from component.errors import BadField, DomainNotServed, NotFound
from component.jid import Jid
from component.rooms.model import Affiliation, AffiliationChange, Member, Room, successor
from component.rooms.requests import Removal
from component.services.concurrency import KeyedLocks
from component.services.nicks import NickDirectory
from component.services.ports import HostPolicy, StanzaSink
from component.services.room_ports import MucServer
from component.store.rooms import SqliteRoomStore

log = logging.getLogger(__name__)


class RoomDirectory:
    def __init__(self, muc: MucServer, store: SqliteRoomStore, hosts: HostPolicy, *,
                 fresh_for: float = 60.0, clock: Callable[[], float] = time.time) -> None:
        self.muc = muc
        self.store = store
        self.hosts = hosts
        self.locks = KeyedLocks()
        self.fresh_for = fresh_for
        self.clock = clock

    # -- policy --------------------------------------------------------------------------------

    def check_room(self, room: Jid) -> Jid:
        """A room of our MUC service (its address prepared by `Jid.parse`, as the server's)."""
        if room.domain != self.hosts.muc_domain:
            raise DomainNotServed(f"{room}: the MUC service here is {self.hosts.muc_domain}")
        if not room.local or room.resource:
            raise BadField("room", f"{room} is not a room address")
        return room

    def check_user(self, user: Jid, what: str) -> Jid:
        """The bare JID of a user of a served domain."""
        if not user.local:
            raise BadField(what, f"{user} is not a user address")
        if not self.hosts.is_served(user.domain):
            raise DomainNotServed(f"{what}: domain {user.domain} is not served by this API")
        return user.bare

    # -- state ---------------------------------------------------------------------------------

    def fresh(self, room: Room, max_age: float | None = None) -> bool:
        limit = self.fresh_for if max_age is None else max_age
        return self.clock() - room.synced_at < limit

    async def read(self, room: Jid) -> Room:
        """For answers that only read: the store if fresh, else the server (NotFound)."""
        cached = await self.store.get(room)
        if cached is not None and self.fresh(cached):
            return cached
        async with self.locks.hold(room):
            return await self.load(room)

    async def load(self, room: Jid, max_age: float | None = None) -> Room:
        """Like `read`, for a caller that holds the room's lock."""
        cached = await self.store.get(room)
        if cached is not None and self.fresh(cached, max_age):
            return cached
        synced = await self.sync(room)
        if synced is None:
            raise NotFound(f"{room}: no such room")
        return synced

    async def sync(self, room: Jid, muc: MucServer | None = None, *,
                   created_here: bool = False) -> Room | None:
        """Read the room from the server into the store; None (and dropped) if it is gone."""
        if not await self.refresh(room, muc, created_here=created_here):
            return None
        return await self.store.get(room)

    async def refresh(self, room: Jid, muc: MucServer | None = None, *,
                      created_here: bool = False) -> bool:
        """`sync` without reading the room back (the resync); False if it is gone."""
        try:
            snapshot = await (muc or self.muc).read(room)
        except NotFound:
            await self.store.delete(room)
            return False
        await self.store.save_snapshot(room, snapshot, created_here=created_here)
        return True

    # -- shared mutations ----------------------------------------------------------------------

    async def set_affiliations(self, room: Room, changes: list[AffiliationChange]) -> Room:
        """On the server, then in the store; returns the room as it now is."""
        await self.muc.set_affiliations(room.jid, changes)
        members = {m.jid: m for m in room.members}
        for jid, affiliation in changes:
            if affiliation == "none":
                members.pop(jid, None)
                await self.store.remove_members(room.jid, [jid])
            elif jid in members:
                members[jid] = replace(members[jid], affiliation=affiliation)
                await self.store.set_affiliation(room.jid, jid, affiliation)
        return replace(room, members=tuple(members.values()))

    async def remove(self, room: Room, user: Jid) -> tuple[Room, Removal]:
        """Affiliation `none` and no subscription; a last owner hands the room to the member
        who joined first (in the same muc#admin set, so the room is never ownerless)."""
        heir = successor(room, user)
        owner: Affiliation = "owner"
        changes: list[AffiliationChange] = [(heir.jid, owner)] if heir else []
        room = await self.set_affiliations(room, [*changes, (user, "none")])
        await self.muc.unsubscribe(room.jid, user)
        if heir is not None:
            log.getChild(str(room.jid)).info("%s left; %s is owner now", user, heir.jid)
        return room, Removal(room.jid, user, heir.jid if heir else None)

    async def subscribe(self, room: Room, members: list[tuple[Member, str]]) -> Room:
        """MucSub-subscribe each (member, nick) and record the nick the room took."""
        done = {m.jid: m for m in room.members}
        for member, nick in members:
            used = await self.muc.subscribe(room.jid, member.jid, nick)
            done[member.jid] = replace(member, nick=used)
        changed = [done[member.jid] for member, _ in members]
        await self.store.put_members(room.jid, changed)
        return replace(room, members=tuple(done.values()))


class RoomWork:
    """What both room services hold: the directory, the sink for messages, the nicks."""

    def __init__(self, directory: RoomDirectory, sink: StanzaSink, nicks: NickDirectory, *,
                 concurrency: int = 16) -> None:
        self._dir = directory
        self._muc = directory.muc
        self._store = directory.store
        self._sink = sink
        self._nicks = nicks
        self._concurrency = concurrency  # iqs or rooms in flight for one request
