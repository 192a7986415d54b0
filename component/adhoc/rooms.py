"""The room ad-hoc commands, for admins: thin adapters over the same room services as the
HTTP endpoints (RoomService for the life cycle, RoomAdmin for management), no logic of their
own beyond reading the form and phrasing the answer.

Rooms may be given by name (on the MUC service) or JID, users by name (on the first host) or
JID. The admin acts for the room's owner where the service needs an actor: invitations come
from the owner, and destroying is an owner's act.
"""

from __future__ import annotations

from collections.abc import Sequence

from component.adhoc.commands import Ask, Command, Note, Requester, Result, ask_first
from component.errors import ApiError, BadField, Conflict
from component.jid import Jid
from component.numbers import ascii_int
from component.rooms.model import OptionChange, Room
from component.rooms.requests import (
    ChangeOptions,
    CreateRoom,
    DestroyRoom,
    MemberChange,
    MemberOutcome,
    StaffOutcome,
)
from component.services.ports import HostPolicy
from component.services.room_admin import RoomAdmin
from component.services.room_service import RoomService
from component.xmpp.addresses import bare_address
from component.xmpp.forms import Field, Form, Submission

ROOM = Field("room", "text-single", "Room (name or JID)", required=True)
MEMBERS = Field("members", "jid-multi", "Members (names or JIDs)")
CREATE_FORM = Form("form", "Create a room",
                   "A persistent members-only room; the owner and the members are subscribed "
                   "and invited.",
                   (ROOM, Field("name", "text-single", "Display name"),
                    Field("description", "text-single", "Description"),
                    Field("owner", "jid-single", "Owner", required=True), MEMBERS))


def _lines(lines: Sequence[str]) -> str:
    return "\n".join(lines)


def _member_lines(outcomes: Sequence[MemberOutcome]) -> list[str]:
    return [f"{o.user}: {o.status}" + (f" ({o.error.message})" if o.error else "")
            + (f"; {o.new_owner} is the owner now" if o.new_owner else "")
            for o in outcomes]


def _option_fields(room: Room) -> tuple[Field, ...]:
    options = room.options
    flag = {True: "1", False: "0"}
    return (Field("name", "text-single", "Display name", (options.name,)),
            Field("description", "text-single", "Description", (options.description,)),
            Field("public", "boolean", "Listed publicly", (flag[options.public],)),
            Field("persistent", "boolean", "Persistent", (flag[options.persistent],)),
            Field("max_users", "text-single", "Maximum members",
                  (str(options.max_users or ""),)))


def options_form(room: Room) -> Form:
    """The options to change; `owner` hands the room over."""
    owner = tuple(str(m.jid) for m in room.owners())[:1]
    return Form("form", f"Options of {room.jid}",
                "Change what you want; a new owner takes the room over.",
                (*_option_fields(room), Field("owner", "jid-single", "Owner", owner)))


def options_result(room: Room) -> Form:
    """The options after; `owner` as in the form to fill (README), with every owner."""
    owners = tuple(str(m.jid) for m in room.owners())
    return Form("result", f"Options of {room.jid}",
                fields=(*_option_fields(room), Field("owner", "jid-multi", "Owners", owners)))


class RoomCommands:
    def __init__(self, rooms: RoomService, admin: RoomAdmin, hosts: HostPolicy) -> None:
        self._rooms = rooms
        self._admin = admin
        self._hosts = hosts

    def commands(self) -> list[Command]:
        one_room = Form("form", "Which room?", fields=(ROOM,))
        return [
            Command("create-room", "Create a room", ask_first(CREATE_FORM, self._create)),
            Command("add-members", "Add members to a room", ask_first(
                Form("form", "Add members", fields=(ROOM, MEMBERS)), self._add)),
            Command("remove-members", "Remove members from a room", ask_first(
                Form("form", "Remove members", fields=(ROOM, MEMBERS)), self._remove)),
            Command("destroy-room", "Destroy a room", ask_first(
                Form("form", "Destroy a room", fields=(
                    ROOM, Field("reason", "text-single", "Reason"))), self._destroy)),
            Command("room-options", "Show or change a room's options",
                    ask_first(one_room, self._show_options, final=False)),
            Command("clear-staff", "Remove users from all their rooms", ask_first(
                Form("form", "Clear staff", "Every room membership of these users ends.",
                     (Field("users", "jid-multi", "Users (names or JIDs)", required=True),)),
                self._clear_staff)),
            Command("resync", "Resynchronise rooms from the server now", self._resync),
        ]

    # -- parsing ---------------------------------------------------------------------------

    def _room(self, form: Submission) -> Jid:
        return bare_address(form.text("room"), self._rooms.muc_domain, "room")

    def _user(self, text: str, var: str) -> Jid:
        return bare_address(text, self._hosts.default_host, var)

    def _users(self, form: Submission, var: str, *, required: bool = False) -> tuple[Jid, ...]:
        return tuple(dict.fromkeys(self._user(text, var)
                                   for text in form.words(var, required=required)))

    async def _owner_of(self, room: Jid) -> Jid:
        owners = (await self._rooms.room(room)).owners()
        if not owners:
            raise Conflict(f"{room} has no owner to act for")
        return owners[0].jid

    # -- steps -----------------------------------------------------------------------------

    async def _create(self, requester: Requester, form: Submission) -> Result:
        room, owner = self._room(form), self._user(form.text("owner"), "owner")
        members = [user for user in self._users(form, "members") if user != owner]
        created = await self._rooms.create(CreateRoom(
            room, owner, name=form.text("name", required=False),
            description=form.text("description", required=False)))
        outcomes = await self._rooms.add_members(MemberChange(room, owner, tuple(members))) \
            if members else []
        return Result(Note(_lines([f"{created.jid} created, owned by {owner}",
                                   *_member_lines(outcomes)])))

    async def _add(self, requester: Requester, form: Submission) -> Result:
        room, users = self._room(form), self._users(form, "members", required=True)
        outcomes = await self._rooms.add_members(
            MemberChange(room, await self._owner_of(room), users))
        return Result(Note(_lines(_member_lines(outcomes))))

    async def _remove(self, requester: Requester, form: Submission) -> Result:
        room, users = self._room(form), self._users(form, "members", required=True)
        lines = []
        for user in users:
            try:
                removal = await self._admin.admin_remove(room, user)
            except ApiError as exc:
                lines.append(f"{user}: not removed ({exc.message})")
                continue
            lines.append(f"{user}: removed" + (f"; {removal.new_owner} is the owner now"
                                               if removal.new_owner else ""))
        return Result(Note(_lines(lines)))

    async def _destroy(self, requester: Requester, form: Submission) -> Result:
        room = self._room(form)
        reason = form.text("reason", required=False) or "management close"
        await self._rooms.destroy(DestroyRoom(room, await self._owner_of(room), reason))
        return Result(Note(f"{room} destroyed"))

    async def _show_options(self, requester: Requester, form: Submission) -> Ask:
        room = await self._rooms.room(self._room(form))

        async def change(requester: Requester, form: Submission) -> Result:
            return await self._change_options(room, form)

        return Ask(options_form(room), change)

    async def _change_options(self, room: Room, form: Submission) -> Result:
        change = _option_change(room, form)
        owner_text = form.text("owner", required=False)
        new_owner = self._user(owner_text, "owner") if owner_text else None
        if new_owner is not None and new_owner in {m.jid for m in room.owners()}:
            new_owner = None
        if change.empty and new_owner is None:
            return Result(Note("nothing to change"), options_result(room))
        after = await self._admin.change_options(ChangeOptions(room.jid, change, new_owner))
        return Result(Note(f"{room.jid} changed"), options_result(after))

    async def _clear_staff(self, requester: Requester, form: Submission) -> Result:
        outcomes = await self._admin.clear_staff(self._users(form, "users", required=True))
        return Result(Note(_lines([_staff_line(outcome) for outcome in outcomes])))

    async def _resync(self, requester: Requester) -> Result:
        report = await self._admin.resync()
        values = {"rooms": report.rooms, "synced": report.synced, "removed": report.removed,
                  "failed": report.failed, "seconds": round(report.seconds, 3)}
        return Result(Note("rooms read again from the server"), Form(
            "result", "Resync", fields=tuple(Field(var, "text-single", var.capitalize(),
                                                   (str(value),))
                                             for var, value in values.items())))


def _option_change(room: Room, form: Submission) -> OptionChange:
    """Only what differs from the room's options now; a field the form leaves out keeps
    its value (as change_muc_opts does), one sent empty is emptied."""
    options = room.options
    name = form.text("name", required=False) if form.given("name") else options.name
    description = form.text("description", required=False) if form.given("description") \
        else options.description
    public, persistent = (form.boolean(var, getattr(options, var))
                          for var in ("public", "persistent"))
    text = form.text("max_users", required=False)
    number = ascii_int(text) if text else options.max_users
    if text and not (number is not None and 0 < number < 1 << 31):
        raise BadField("max_users", f"expected a positive integer in ASCII digits, got {text!r}")
    max_users = number
    return OptionChange(
        name=name if name != options.name else None,
        description=description if description != options.description else None,
        public=public if public != options.public else None,
        persistent=persistent if persistent != options.persistent else None,
        max_users=max_users if max_users != options.max_users else None)


def _staff_line(outcome: StaffOutcome) -> str:
    left = ", ".join(str(r.room) + (f" (now owned by {r.new_owner})" if r.new_owner else "")
                     for r in outcome.removed) or "no room"
    failed = "; failed: " + ", ".join(f"{room} ({error.message})"
                                      for room, error in outcome.failed) \
        if outcome.failed else ""
    return f"{outcome.user}: left {left}{failed}"
