"""Room management: change_muc_opts, management/del_muc_user, clear_staff,
send_notice_vcard, and the on-demand resync (the ad-hoc `resync` command).

Removals hand a room whose only owner leaves to the member who joined first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from component.errors import ApiError, NotFound
from component.jid import Jid
from component.rooms.model import AffiliationChange, Member, OptionChange, Room
from component.rooms.requests import (
    ChangeOptions,
    ProfileUpdate,
    Removal,
    ResyncReport,
    StaffOutcome,
)
from component.services.concurrency import gather_bounded
from component.services.nicks import NickDirectory
from component.services.ports import StanzaSink
from component.services.room_directory import RoomDirectory, RoomWork
from component.services.room_resync import RoomResync
from component.xmpp import muc
from component.xmpp.fragment import new_message_id

log = logging.getLogger(__name__)


class RoomAdmin(RoomWork):
    def __init__(self, directory: RoomDirectory, resync: RoomResync, sink: StanzaSink,
                 nicks: NickDirectory, *, concurrency: int = 16) -> None:
        super().__init__(directory, sink, nicks, concurrency=concurrency)
        self._resync = resync

    async def change_options(self, request: ChangeOptions) -> Room:
        """Change the configuration and/or the owner; answer with the server's view after."""
        room_jid = self._dir.check_room(request.room)
        new_owner = (self._dir.check_user(request.new_owner, "affiliations")
                     if request.new_owner is not None else None)
        async with self._dir.locks.hold(room_jid):
            room = await self._dir.load(room_jid)
            await self._muc.configure(room_jid, request.change)
            if new_owner is not None:
                await self._hand_over(room, new_owner)
            synced = await self._dir.sync(room_jid)
            if synced is None:
                raise NotFound(f"{room_jid}: no such room")
            return await self._bump_if_renamed(room, synced)

    async def _hand_over(self, room: Room, new_owner: Jid) -> None:
        """The original replaced every owner by the new one; former owners stay members."""
        changes: list[AffiliationChange] = [(new_owner, "owner")]
        changes += [(m.jid, "member") for m in room.owners() if m.jid != new_owner]
        room = await self._dir.set_affiliations(room, changes)
        member = room.member(new_owner)
        if member is None or not member.nick:
            nick = (await self._nicks.nicks([new_owner]))[new_owner]
            joined = member or Member(new_owner, "owner", "", self._dir.clock())
            await self._dir.subscribe(room, [(joined, nick)])

    async def _bump_if_renamed(self, before: Room, after: Room) -> Room:
        """Name and description are part of the group card: its version goes up."""
        if (before.options.name, before.options.description) == \
                (after.options.name, after.options.description):
            return after
        profile = replace(after.profile, version=after.profile.version + 1)
        await self._store.put_profile(after.jid, profile)
        return replace(after, profile=profile)

    async def admin_remove(self, room: Jid, user: Jid) -> Removal:
        """management/del_muc_user: no owner check (an integrator's admin call)."""
        room_jid = self._dir.check_room(room)
        user = self._dir.check_user(user, "user")
        async with self._dir.locks.hold(room_jid):
            found = await self._dir.load(room_jid)
            if found.member(user) is None:
                raise NotFound(f"{user} is not a member of {room_jid}")
            _, removal = await self._dir.remove(found, user)
        return removal

    async def clear_staff(self, users: Sequence[Jid]) -> list[StaffOutcome]:
        """Remove each user from every room where they are affiliated, whoever made it.

        The reverse index is refreshed first (rooms made by clients since the last resync
        are listed and read), so the answer does not depend on the cache's age."""
        checked = [self._dir.check_user(user, "users") for user in users]
        await self._resync.run(max_age=self._dir.fresh_for)
        return [await self._clear(user) for user in dict.fromkeys(checked)]

    async def _clear(self, user: Jid) -> StaffOutcome:
        rooms = await self._store.rooms_of(user)
        results = await gather_bounded((self._leave(room, user) for room in rooms),
                                       self._concurrency)
        removed = tuple(r for r in results if isinstance(r, Removal))
        failed = tuple(r for r in results if isinstance(r, tuple))
        return StaffOutcome(user, removed, failed)

    async def _leave(self, room: Jid, user: Jid) -> Removal | tuple[Jid, ApiError] | None:
        try:
            async with self._dir.locks.hold(room):
                found = await self._dir.load(room)
                if found.member(user) is None:
                    return None
                _, removal = await self._dir.remove(found, user)
                return removal
        except ApiError as exc:
            log.warning("clear_staff: %s in %s: %s", user, room, exc.message)
            return room, exc

    async def notify_profile(self, request: ProfileUpdate) -> Room:
        """Apply the profile values given (version + 1 if any changed), then push the group
        card to the members through the room (send_notice_vcard)."""
        room_jid = self._dir.check_room(request.room)
        async with self._dir.locks.hold(room_jid):
            room = await self._dir.load(room_jid)
            room = await self._update_profile(room, request)
            card = muc.ProfileCard(
                nick=room.options.name or room_jid.local, desc=room.options.description,
                title=room.profile.title, pic=room.profile.picture,
                version=room.profile.version)
        await self._sink.deliver(self._muc.notice_stanzas(room_jid, card,
                                                          stanza_id=new_message_id()))
        return room

    async def _update_profile(self, room: Room, request: ProfileUpdate) -> Room:
        change = OptionChange(name=_changed(request.name, room.options.name),
                              description=_changed(request.description,
                                                   room.options.description))
        profile = replace(room.profile, title=_or(request.title, room.profile.title),
                          picture=_or(request.picture, room.profile.picture))
        if change.empty and profile == room.profile:
            return room
        if not change.empty:
            await self._muc.configure(room.jid, change)
            room = replace(room, options=change.apply(room.options))
            await self._store.put_options(room.jid, room.options)
        profile = replace(profile, version=profile.version + 1)
        await self._store.put_profile(room.jid, profile)
        return replace(room, profile=profile)

    async def resync(self) -> ResyncReport:
        """Rebuild the store's rooms and affiliations from the server now."""
        return await self._resync.run()


def _changed(new: str | None, old: str) -> str | None:
    return new if new is not None and new != old else None


def _or(new: str | None, old: str) -> str:
    return old if new is None else new
