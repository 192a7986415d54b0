"""ejabberd's mod_muc as the component sees it: every room quirk in one place.

Measured on ejabberd 23.01 (reference xmpp-servers.md §3c, §3d, §3f, §10):
* any muc#owner iq to a missing room creates it: a config submit (how rooms are made here),
  but also a config *get* (a transient room) and a *destroy*, which then answers "result"
  for a room that never existed; so callers check `exists` first, and `read` asks for the
  owner list (muc#admin: item-not-found) before the configuration;
* the component is owner of every room through `access_admin`, and the rooms it creates list
  it as owner; that affiliation cannot be changed, so it is left out of every list here;
* groupchat is accepted from a MucSub subscriber's bare JID without joining, and from a
  service admin (a bodyless notice, for instance); affiliation `none` does not unsubscribe;
* subscribing needs the affiliation first in a members-only room, and a nick already taken
  in the room is a `conflict`;
* disco#items pages with RSM (an unpaged query lists only non-empty rooms past 100 rooms).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from lxml import etree

from component.errors import Conflict
from component.jid import Jid
from component.services.room_model import (
    AFFILIATIONS,
    Affiliation,
    Member,
    OptionChange,
    RoomOptions,
    RoomSnapshot,
)
from component.services.room_ports import AffiliationChange, IqPort
from component.xmpp import muc

PAGE = 100
ADMIN_BATCH = 100  # items per muc#admin set, to keep stanzas small
_FIELDS = {"name": "muc#roomconfig_roomname", "description": "muc#roomconfig_roomdesc",
           "public": "muc#roomconfig_publicroom", "persistent": "muc#roomconfig_persistentroom",
           "members_only": "muc#roomconfig_membersonly", "max_users": "muc#roomconfig_maxusers",
           "allow_subscription": "allow_subscription"}


def form_values(change: OptionChange, **fixed: bool) -> dict[str, str]:
    values: dict[str, str | int | bool | None] = {
        "name": change.name, "description": change.description, "public": change.public,
        "persistent": change.persistent, "max_users": change.max_users, **fixed}
    return {_FIELDS[key]: _form_text(value) for key, value in values.items()
            if value is not None}


def _form_text(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def options_of(form: dict[str, list[str]]) -> RoomOptions:
    def first(key: str) -> str | None:
        values = form.get(_FIELDS[key])
        return values[0] if values else None

    def flag(key: str, default: bool) -> bool:
        value = first(key)
        return default if value is None else value in ("1", "true")

    max_users = first("max_users")
    return RoomOptions(
        name=first("name") or "", description=first("description") or "",
        public=flag("public", False), persistent=flag("persistent", False),
        members_only=flag("members_only", False),
        max_users=int(max_users) if max_users and max_users.isdigit() else None,
        allow_subscription=flag("allow_subscription", False))


class EjabberdMuc:
    def __init__(self, port: IqPort, muc_domain: str) -> None:
        self._port = port
        self._service = Jid.parse(muc_domain)

    async def _iq(self, room: Jid, iq_type: str, payload: etree._Element,
                  what: str) -> etree._Element:
        stanza = muc.iq(self._port.jid, room, self._port.new_id(), iq_type, payload)
        return muc.check_reply(await self._port.request(stanza), f"{room}: {what}")

    async def exists(self, room: Jid) -> bool:
        stanza = muc.iq(self._port.jid, room, self._port.new_id(), "get",
                        muc.disco_info_request())
        reply = await self._port.request(stanza)
        if reply.get("type") == "error" and muc.error_of(reply)[0] == "item-not-found":
            return False
        muc.check_reply(reply, f"{room}: disco#info")
        return True

    async def create(self, room: Jid, change: OptionChange) -> None:
        values = form_values(change, persistent=True, members_only=True,
                             allow_subscription=True)
        values.setdefault(_FIELDS["public"], "0")
        await self._iq(room, "set", muc.config_submit(values), "create")

    async def configure(self, room: Jid, change: OptionChange) -> None:
        if not change.empty:
            await self._iq(room, "set", muc.config_submit(form_values(change)), "configure")

    async def read(self, room: Jid) -> RoomSnapshot:
        """The owner list first: a muc#owner query (even a get) would create a missing room."""
        owners = await self._iq(room, "get", muc.affiliation_list("owner"), "owner list")
        form, subscribers, *lists = await asyncio.gather(
            self._iq(room, "get", muc.config_request(), "configuration"),
            self._iq(room, "get", muc.subscriptions_request(), "subscriptions"),
            *(self._iq(room, "get", muc.affiliation_list(a), f"{a} list")
              for a in AFFILIATIONS[1:]))
        lists.insert(0, owners)
        affiliations: dict[Jid, Affiliation] = {}
        for affiliation, reply in zip(AFFILIATIONS, lists, strict=True):
            for jid, _ in muc.parse_affiliations(reply):
                if jid.local and jid.domain != self._port.jid.domain:
                    affiliations.setdefault(jid, affiliation)
        return RoomSnapshot(options_of(muc.parse_form(form)), tuple(affiliations.items()),
                            muc.parse_subscriptions(subscribers))

    async def set_affiliations(self, room: Jid, changes: Sequence[AffiliationChange]) -> None:
        for start in range(0, len(changes), ADMIN_BATCH):
            batch = changes[start:start + ADMIN_BATCH]
            await self._iq(room, "set", muc.affiliation_set(batch), "affiliation")

    async def subscribe(self, room: Jid, user: Jid, nick: str) -> str:
        """A nick taken by another subscriber gets the user name added, then the JID."""
        candidates = dict.fromkeys([nick, f"{nick} ({user.local})", str(user)])
        for candidate in candidates:
            try:
                await self._iq(room, "set", muc.subscribe(user, candidate), "subscribe")
            except Conflict:
                continue
            return candidate
        raise Conflict(f"{room}: no free nick for {user}")

    async def unsubscribe(self, room: Jid, user: Jid) -> None:
        await self._iq(room, "set", muc.unsubscribe(user), "unsubscribe")

    async def destroy(self, room: Jid, reason: str) -> None:
        await self._iq(room, "set", muc.destroy(reason), "destroy")

    async def list_rooms(self) -> list[Jid]:
        rooms: list[Jid] = []
        after: str | None = None
        while True:
            reply = await self._iq(self._service, "get", muc.disco_items_request(PAGE, after),
                                   "disco#items")
            page = muc.parse_disco_items(reply)
            rooms += [jid.bare for jid in page.jids if jid.local]
            if not page.jids or page.last is None or page.last == after:
                return rooms
            after = page.last

    async def group_sender(self, room: Jid, member: Member, nick: str) -> tuple[Jid, str]:
        """Subscribed members post as their bare JID; others are subscribed first."""
        if member.nick:
            return member.jid, member.nick
        return member.jid, await self.subscribe(room, member.jid, nick)

    def notice_sender(self) -> Jid:
        return self._port.jid
