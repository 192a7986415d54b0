"""Group life cycle (DESIGN.md §4): create_muc, add_muc_user, del_muc_user, destroy_muc,
muc_users, the option read of get_muc_opts, and the membership gate of groupchat injection.

Groups are persistent members-only XEP-0045 rooms; members are affiliated and subscribed with
ejabberd's MucSub, and invited with XEP-0249 so their clients show the group.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from component.errors import ApiError, Conflict, Forbidden
from component.jid import Jid
from component.rooms.model import Member, OptionChange, Room
from component.rooms.requests import CreateRoom, DestroyRoom, MemberChange, MemberOutcome
from component.services.concurrency import gather_bounded
from component.services.room_directory import RoomWork
from component.xmpp import muc
from component.xmpp.fragment import new_message_id

log = logging.getLogger(__name__)


class RoomService(RoomWork):
    @property
    def muc_domain(self) -> str:
        return self._dir.hosts.muc_domain

    async def create(self, request: CreateRoom) -> Room:
        """A new room with `owner` as owner and subscriber; Conflict if it exists."""
        room = self._dir.check_room(request.room)
        owner = self._dir.check_user(request.owner, "muc_owner")
        async with self._dir.locks.hold(room):
            if await self._muc.exists(room):
                raise Conflict(f"{room} already exists")
            await self._muc.create(room, OptionChange(name=request.name,
                                                      description=request.description))
            try:
                nick = (await self._nicks.nicks([owner]))[owner]
                await self._muc.set_affiliations(room, [(owner, "owner")])
                await self._muc.subscribe(room, owner, nick)
                await self._store.delete(room)  # a stale row of an older room of that name
                created = await self._dir.sync(room, created_here=True)
            except ApiError:
                await self._undo_create(room)
                raise
        assert created is not None
        log.getChild(str(room)).info("created for %s", owner)
        return created

    async def _undo_create(self, room: Jid) -> None:
        try:
            await self._muc.destroy(room, "creation failed")
        except ApiError as exc:
            log.warning("%s: could not remove the half-created room: %s", room, exc.message)

    async def add_members(self, request: MemberChange) -> list[MemberOutcome]:
        """Affiliate, subscribe and invite each user; members already there are reported."""
        room_jid = self._dir.check_room(request.room)
        actor = self._dir.check_user(request.actor, "muc_owner")
        async with self._dir.locks.hold(room_jid):
            room = await self._dir.load(room_jid)
            if room.member(actor) is None:
                raise Forbidden(f"{actor} is not a member of {room_jid}")
            users = _distinct_bare(request.users)
            outcomes, new = self._admissible(room, users)
            if new:
                room, added = await self._add(room, new, outcomes)
                await self._invite(room, actor, added)
        return [outcomes[user] for user in users]

    def _admissible(self, room: Room, users: Sequence[Jid]
                    ) -> tuple[dict[Jid, MemberOutcome], list[Jid]]:
        outcomes: dict[Jid, MemberOutcome] = {}
        new: list[Jid] = []
        space = (room.options.max_users or 0) - len(room.members)
        for user in users:
            try:
                self._dir.check_user(user, "muc_member")
                if room.member(user) is not None:
                    outcomes[user] = MemberOutcome(user, "already a member")
                    continue
                if room.options.max_users and len(new) >= space:
                    raise Forbidden(f"{room.jid} is full ({room.options.max_users} members)")
                new.append(user)
            except ApiError as exc:
                outcomes[user] = MemberOutcome(user, "refused", exc)
        return outcomes, new

    async def _add(self, room: Room, users: list[Jid], outcomes: dict[Jid, MemberOutcome]
                   ) -> tuple[Room, list[Jid]]:
        affiliated = await self._affiliate(room.jid, users, outcomes)
        nicks = await self._nicks.nicks(affiliated)
        now = self._dir.clock()
        members = [Member(user, "member", "", now + index * 1e-6)
                   for index, user in enumerate(affiliated)]
        results = await gather_bounded((self._subscribe(room.jid, m, nicks[m.jid])
                                        for m in members), self._concurrency)
        done = [member for member in results if isinstance(member, Member)]
        failed = [error for error in results if isinstance(error, tuple)]
        if failed:
            await self._unaffiliate(room.jid, [user for user, _ in failed])
        for user, exc in failed:
            outcomes[user] = MemberOutcome(user, "refused", exc)
        await self._store.put_members(room.jid, done)
        for member in done:
            outcomes[member.jid] = MemberOutcome(member.jid, "added")
        return replace(room, members=room.members + tuple(done)), [m.jid for m in done]

    async def _affiliate(self, room: Jid, users: list[Jid],
                         outcomes: dict[Jid, MemberOutcome]) -> list[Jid]:
        """One muc#admin set for all; if the server refuses it, one per user to find who."""
        try:
            await self._muc.set_affiliations(room, [(user, "member") for user in users])
            return users
        except ApiError as exc:
            if len(users) == 1:
                outcomes[users[0]] = MemberOutcome(users[0], "refused", exc)
                return []
        accepted = []
        for user in users:
            try:
                await self._muc.set_affiliations(room, [(user, "member")])
                accepted.append(user)
            except ApiError as exc:
                outcomes[user] = MemberOutcome(user, "refused", exc)
        return accepted

    async def _unaffiliate(self, room: Jid, users: list[Jid]) -> None:
        """Undo the affiliation of users who could not be subscribed: member ⇔ subscribed."""
        try:
            await self._muc.set_affiliations(room, [(user, "none") for user in users])
        except ApiError as exc:
            log.warning("%s: affiliations of %d unsubscribed users left: %s", room,
                        len(users), exc.message)

    async def _subscribe(self, room: Jid, member: Member, nick: str
                         ) -> Member | tuple[Jid, ApiError]:
        try:
            return replace(member, nick=await self._muc.subscribe(room, member.jid, nick))
        except ApiError as exc:
            return member.jid, exc

    async def _invite(self, room: Room, inviter: Jid, users: list[Jid]) -> None:
        """XEP-0249 from the inviter; kept by the sink (outbox) if the link is down."""
        name = room.options.name or room.jid.local
        invitations = [muc.invitation(inviter, user, room.jid, stanza_id=new_message_id(),
                                      reason=f"{inviter} invited you to {name}")
                       for user in users]
        if invitations:
            try:
                await self._sink.deliver(invitations)
            except ApiError as exc:
                log.warning("%s: invitations not sent: %s", room.jid, exc.message)

    async def remove_members(self, request: MemberChange) -> list[MemberOutcome]:
        """Only an owner or admin may remove; only an owner may remove an owner."""
        room_jid = self._dir.check_room(request.room)
        actor = self._dir.check_user(request.actor, "muc_owner")
        outcomes: dict[Jid, MemberOutcome] = {}
        async with self._dir.locks.hold(room_jid):
            room = await self._dir.load(room_jid)
            if not room.is_manager(actor):
                raise Forbidden(f"{actor} is neither owner nor admin of {room_jid}")
            users = _distinct_bare(request.users)
            for user in users:
                room, outcomes[user] = await self._remove_one(room, actor, user)
        return [outcomes[user] for user in users]

    async def _remove_one(self, room: Room, actor: Jid, user: Jid
                          ) -> tuple[Room, MemberOutcome]:
        member = room.member(user)
        actor_member = room.member(actor)
        if member is None:
            return room, MemberOutcome(user, "not a member")
        if member.affiliation == "owner" and actor_member is not None \
                and actor_member.affiliation != "owner":
            error = Forbidden(f"only an owner may remove the owner {user}")
            return room, MemberOutcome(user, "refused", error)
        try:
            room, removal = await self._dir.remove(room, user)
        except ApiError as exc:
            return room, MemberOutcome(user, "refused", exc)
        return room, MemberOutcome(user, "removed", new_owner=removal.new_owner)

    async def destroy(self, request: DestroyRoom) -> None:
        """Owner only; the server tells the subscribers (MucSub config node, stored offline)."""
        room_jid = self._dir.check_room(request.room)
        owner = self._dir.check_user(request.owner, "muc_owner")
        async with self._dir.locks.hold(room_jid):
            room = await self._dir.load(room_jid)
            member = room.member(owner)
            if member is None or member.affiliation != "owner":
                raise Forbidden(f"{owner} is not an owner of {room_jid}")
            await self._muc.destroy(room_jid, request.reason)
            await self._store.delete(room_jid)
        log.getChild(str(room_jid)).info("destroyed by %s", owner)

    async def room(self, room: Jid) -> Room:
        """The room, from the store when fresh (get_muc_opts, muc_users)."""
        return await self._dir.read(self._dir.check_room(room))

    async def members(self, room: Jid) -> list[tuple[Member, str]]:
        """Owners, admins and members, each with a nick from their vCard."""
        found = await self.room(room)
        nicks = await self._nicks.nicks([m.jid for m in found.members])
        order = {"owner": 0, "admin": 1, "member": 2}
        return [(m, nicks[m.jid]) for m in sorted(
            found.members, key=lambda m: (order[m.affiliation], m.since, str(m.jid)))]

    async def group_sender(self, room: Jid, user: Jid) -> Jid:
        """The membership gate of groupchat injection (GroupGate): who to send as."""
        room_jid = self._dir.check_room(room)
        user = self._dir.check_user(user, "from")
        member = (await self._dir.read(room_jid)).member(user)
        if member is None:  # the store may not know yet: ask the server before refusing
            async with self._dir.locks.hold(room_jid):
                member = (await self._dir.load(room_jid, max_age=0)).member(user)
        if member is None:
            raise Forbidden(f"User not in Room: {user} is not a member of {room_jid}")
        if member.nick:
            return member.jid
        async with self._dir.locks.hold(room_jid):
            nick = (await self._nicks.nicks([user]))[user]
            sender, used = await self._muc.group_sender(room_jid, member, nick)
            await self._store.put_members(room_jid, [replace(member, nick=used)])
        return sender


def _distinct_bare(users: Sequence[Jid]) -> list[Jid]:
    """Each user once, in the order given (the JIDs are prepared already: `Jid.parse`)."""
    return list(dict.fromkeys(user.bare for user in users))
