"""Handlers of the room endpoints: decode their Structs (shapes.py), call the room services,
reply.

Answers keep the original's `data` shapes where it had data (muc_users `[{"U","H","N"}]`,
get_muc_opts `{"mucid","maxusers","showname","owner"}`), with honest statuses: 404 unknown
room, 403 not allowed, 409 exists, 400 bad input, 413 too many users, 207 partly done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from msgspec import Struct

from component.config import LimitsConfig
from component.errors import ApiError, ErrCode
from component.http import audit, auth
from component.http import body as fields
from component.http import room_requests as parse
from component.http.envelope import Answer, answer, success
from component.http.route import POST, Request, Route
from component.http.shapes import (
    ChangeMucOpts,
    ClearStaff,
    CreateMuc,
    DestroyMuc,
    MgmtDelUser,
    MgmtRoom,
    MucMembers,
    NoticeVcard,
    RoomAt,
)
from component.jid import Jid
from component.rooms.model import Room
from component.rooms.requests import (
    ChangeOptions,
    CreateRoom,
    DestroyRoom,
    MemberChange,
    MemberOutcome,
    ProfileUpdate,
    StaffOutcome,
)
from component.services.room_admin import RoomAdmin
from component.services.room_service import RoomService
from component.xmpp.addresses import bare_address

GET_OR_POST = frozenset({"GET", "POST"})
MemberAction = Callable[[MemberChange], Awaitable[list[MemberOutcome]]]
S = TypeVar("S", bound=Struct)


class RoomRoutes:
    def __init__(self, rooms: RoomService, admin: RoomAdmin, limits: LimitsConfig,
                 default_host: str) -> None:
        self.rooms = rooms
        self.admin = admin
        self.limits = limits
        self.host = default_host
        self.muc = rooms.muc_domain

    def routes(self) -> list[Route]:
        return [Route("create_muc", POST, self.create_muc),
                Route("add_muc_user", POST, self.add_muc_user),
                Route("del_muc_user", POST, self.del_muc_user),
                Route("destroy_muc", POST, self.destroy_muc),
                Route("muc_users", POST, self.muc_users, mutating=False),
                Route("send_notice_vcard", GET_OR_POST, self.send_notice_vcard),
                Route("management/get_muc_opts", POST, self.get_muc_opts, mutating=False),
                Route("management/change_muc_opts", POST, self.change_muc_opts),
                Route("management/del_muc_user", POST, self.admin_del_muc_user),
                Route("clear_staff", POST, self.clear_staff)]

    def _decode(self, request: Request, shape: type[S]) -> S:
        return fields.decode(request.body, shape, self.limits)

    def _room(self, name: str, domain: str, key: str = "muc_id") -> Jid:
        return parse.room_of(name, domain, key, self.muc)

    async def create_muc(self, request: Request) -> Answer:
        body = self._decode(request, CreateMuc)
        room, owner = self._room(body.muc_id, body.muc_domain), parse.actor_of(body, self.host)
        _acting(request, room, owner)
        created = await self.rooms.create(CreateRoom(
            room, owner, name=parse.text(body.muc_name, "muc_name") or "",
            description=parse.text(body.muc_desc, "muc_desc") or ""))
        return success(room_options(created))

    async def add_muc_user(self, request: Request) -> Answer:
        return await self._members(request, self.rooms.add_members)

    async def del_muc_user(self, request: Request) -> Answer:
        return await self._members(request, self.rooms.remove_members)

    async def _members(self, request: Request, action: MemberAction) -> Answer:
        body = self._decode(request, MucMembers)
        room, actor = self._room(body.muc_id, body.muc_domain), parse.actor_of(body, self.host)
        parsed = parse.user_list(body, "muc_member", body.muc_owner_host or self.host)
        users = tuple(item for item in parsed if isinstance(item, Jid))
        _acting(request, room, actor, *users)
        outcomes = await action(MemberChange(room, actor, users)) if users else []
        return member_reply(room, parsed, outcomes)

    async def destroy_muc(self, request: Request) -> Answer:
        body = self._decode(request, DestroyMuc)
        room = self._room(body.muc_id, body.muc_domain)
        owner = parse.actor_of(body, self.host, body.host)
        _acting(request, room, owner)
        await self.rooms.destroy(DestroyRoom(
            room, owner, parse.text(body.reason, "reason") or "management close"))
        return success({"mucid": str(room)})

    async def muc_users(self, request: Request) -> Answer:
        body = self._decode(request, RoomAt)
        members = await self.rooms.members(self._room(body.muc_id, body.muc_domain))
        return success([{"U": m.jid.local, "H": m.jid.domain, "N": nick, "A": m.affiliation}
                        for m, nick in members], errmsg="")

    async def get_muc_opts(self, request: Request) -> Answer:
        body = self._decode(request, MgmtRoom)
        room = await self.rooms.room(self._room(body.muc, body.domain, "muc"))
        return success(room_options(room), errmsg="")

    async def change_muc_opts(self, request: Request) -> Answer:
        body = self._decode(request, ChangeMucOpts)
        owner = parse.text(body.affiliations, "affiliations")
        new_owner = bare_address(owner, body.host or self.host, "affiliations") if owner \
            else None
        room_jid = self._room(body.muc, body.domain, "muc")
        _acting(request, room_jid, *([new_owner] if new_owner else []))
        room = await self.admin.change_options(ChangeOptions(
            room_jid, parse.option_change(body), new_owner))
        return success(room_options(room), errmsg="Muc set opt ok")

    async def admin_del_muc_user(self, request: Request) -> Answer:
        body = self._decode(request, MgmtDelUser)
        user = bare_address(body.user, body.host or self.host, "user")
        room = self._room(body.muc, body.domain, "muc")
        _acting(request, room, user)
        removal = await self.admin.admin_remove(room, user)
        return success({"mucid": str(removal.room), "user": str(removal.user),
                        "new_owner": _str(removal.new_owner)}, errmsg="Muc set ok")

    async def send_notice_vcard(self, request: Request) -> Answer:
        if request.method == "GET":
            body = fields.from_query(request.query, NoticeVcard, self.limits)
        else:
            body = self._decode(request, NoticeVcard)
        room_jid = self._room(body.muc_name, body.muc_domain, "muc_name")
        _acting(request, room_jid)
        room = await self.admin.notify_profile(ProfileUpdate(
            room_jid, name=parse.text(body.show_name, "show_name"),
            description=parse.text(body.muc_desc, "muc_desc"),
            title=parse.text(body.muc_title, "muc_title"),
            picture=parse.text(body.muc_pic, "muc_pic")))
        return success(room_options(room))

    async def clear_staff(self, request: Request) -> Answer:
        body = self._decode(request, ClearStaff)
        parsed = parse.user_list(body, "users", body.host)
        users = [item for item in parsed if isinstance(item, Jid)]
        for domain in {body.host, *(user.domain for user in users)}:
            auth.require_host(request, domain)
        audit.note(request, targets=[str(user) for user in users])
        outcomes = {o.user: o for o in await self.admin.clear_staff(users)} if users else {}
        return staff_reply(parsed, outcomes)


def _acting(request: Request, room: Jid, *users: Jid) -> None:
    """The integrator must be allowed to act for these users' domains (403 otherwise)."""
    for domain in dict.fromkeys(user.domain for user in users):
        auth.require_host(request, domain)
    audit.note(request, acting_as=[str(user) for user in users[:1]], targets=[str(room)])


def room_options(room: Room) -> dict[str, Any]:
    """get_muc_opts' shape, plus the fields the original kept elsewhere."""
    options = room.options
    return {"mucid": str(room.jid), "maxusers": options.max_users, "showname": options.name,
            "owner": [{"user": m.jid.local, "host": m.jid.domain} for m in room.owners()],
            "description": options.description, "public": options.public,
            "persistent": options.persistent, "membersonly": options.members_only,
            "title": room.profile.title, "picture": room.profile.picture,
            "version": room.profile.version}


def member_reply(room: Jid, parsed: Sequence[Jid | parse.Refused],
                 outcomes: Sequence[MemberOutcome]) -> Answer:
    by_user = {outcome.user: outcome for outcome in outcomes}
    items: list[dict[str, Any]] = []
    errors: list[ApiError] = []
    for index, item in enumerate(parsed):
        error = item.error if isinstance(item, parse.Refused) else by_user[item].error
        if error is not None:
            items.append(_refused(index, _given(item), error))
            errors.append(error)
        else:
            outcome = by_user[item]  # type: ignore[index]
            items.append({"index": index, "user": str(item), "ok": True,
                          "status": outcome.status, "new_owner": _str(outcome.new_owner)})
    return _report({"mucid": str(room), "items": items}, errors)


def staff_reply(parsed: Sequence[Jid | parse.Refused],
                outcomes: dict[Jid, StaffOutcome]) -> Answer:
    items: list[dict[str, Any]] = []
    errors: list[ApiError] = []
    for index, item in enumerate(parsed):
        if isinstance(item, parse.Refused):
            items.append(_refused(index, item.given, item.error))
            errors.append(item.error)
            continue
        outcome = outcomes[item]
        entry: dict[str, Any] = {
            "index": index, "user": str(item), "ok": not outcome.failed,
            "rooms": [{"mucid": str(r.room), "new_owner": _str(r.new_owner)}
                      for r in outcome.removed],
            "failed": [{"mucid": str(room), "errcode": int(error.errcode),
                        "errmsg": error.message} for room, error in outcome.failed]}
        if outcome.failed:
            error = outcome.failed[0][1]
            entry |= {"errcode": int(error.errcode), "errmsg": error.message}
            errors.append(error)
        items.append(entry)
    return _report({"items": items}, errors, len(items))


def _refused(index: int, user: str, error: ApiError) -> dict[str, Any]:
    return {"index": index, "user": user, "ok": False, "status": "refused",
            "errcode": int(error.errcode), "errmsg": error.message}


def _given(item: Jid | parse.Refused) -> str:
    return item.given if isinstance(item, parse.Refused) else str(item)


def _report(data: dict[str, Any], errors: list[ApiError], total: int | None = None
            ) -> Answer:
    """All done: 200. Nothing done: the first refusal's status. Some: 207, errcode 1."""
    total = len(data["items"]) if total is None else total
    if not errors:
        return success(data)
    first = errors[0]
    if len(errors) == total:
        return answer(False, first.errcode, f"nothing was done: {first.message}", data,
                      status=first.http_status)
    return answer(False, ErrCode.FAILED,
                  f"{len(errors)} of {total} users refused; the others were done",
                  data, status=207)


def _str(jid: Jid | None) -> str | None:
    return str(jid) if jid is not None else None
