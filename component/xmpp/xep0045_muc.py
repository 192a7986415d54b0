"""What every XEP-0045 MUC service answers alike: the base of the per-server MucServers.

The component is a service admin: it reads and sets configuration forms (muc#owner) and
affiliation lists (muc#admin), destroys rooms and lists the service (disco#items, XEP-0059
paging) without joining. How a room is created, how members get group messages and who may
post differ per server: `ejabberd_muc.py` and `prosody_muc.py` (README, compatibility).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from lxml import etree

from component.jid import Jid
from component.numbers import ascii_int
from component.rooms.model import (
    AFFILIATIONS,
    Affiliation,
    AffiliationChange,
    OptionChange,
    RoomOptions,
)
from component.xmpp import muc
from component.xmpp.ports import IqPort

PAGE = 100
FIELDS = {"name": "muc#roomconfig_roomname", "description": "muc#roomconfig_roomdesc",
          "public": "muc#roomconfig_publicroom", "persistent": "muc#roomconfig_persistentroom",
          "members_only": "muc#roomconfig_membersonly", "max_users": "muc#roomconfig_maxusers",
          "allow_subscription": "allow_subscription"}
GONE = ("item-not-found", "gone")  # gone: Prosody keeps a tombstone of a destroyed room


def form_values(change: OptionChange, **fixed: bool) -> dict[str, str]:
    values: dict[str, str | int | bool | None] = {
        "name": change.name, "description": change.description, "public": change.public,
        "persistent": change.persistent, "max_users": change.max_users, **fixed}
    return {FIELDS[key]: _form_text(value) for key, value in values.items()
            if value is not None}


def _form_text(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def options_of(form: dict[str, list[str]]) -> RoomOptions:
    def first(key: str) -> str | None:
        values = form.get(FIELDS[key])
        return values[0] if values else None

    def flag(key: str, default: bool) -> bool:
        value = first(key)
        return default if value is None else value in ("1", "true")

    max_users = first("max_users")
    return RoomOptions(
        name=first("name") or "", description=first("description") or "",
        public=flag("public", False), persistent=flag("persistent", False),
        members_only=flag("members_only", False),
        max_users=ascii_int(max_users) if max_users else None,
        allow_subscription=flag("allow_subscription", False))


class Xep0045Muc:
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
        if reply.get("type") == "error" and muc.error_of(reply)[0] in GONE:
            return False
        muc.check_reply(reply, f"{room}: disco#info")
        return True

    async def configure(self, room: Jid, change: OptionChange) -> None:
        if not change.empty:
            await self._iq(room, "set", muc.config_submit(form_values(change)), "configure")

    async def destroy(self, room: Jid, reason: str) -> None:
        await self._iq(room, "set", muc.destroy(reason), "destroy")

    async def _read(self, room: Jid, extra: etree._Element | None = None
                    ) -> tuple[RoomOptions, tuple[tuple[Jid, Affiliation], ...],
                               etree._Element | None]:
        """Options and affiliations (the component's own domain left out), plus the reply to
        `extra`. The owner list first: on ejabberd a muc#owner query (even a get) would
        create a missing room, and on both a missing room answers it with an error."""
        owners = await self._iq(room, "get", muc.affiliation_list("owner"), "owner list")
        queries = [self._iq(room, "get", muc.config_request(), "configuration")]
        if extra is not None:
            queries.append(self._iq(room, "get", extra, etree.QName(extra).localname))
        queries += [self._iq(room, "get", muc.affiliation_list(a), f"{a} list")
                    for a in AFFILIATIONS[1:]]
        form, *replies = await asyncio.gather(*queries)
        extra_reply = replies.pop(0) if extra is not None else None
        lists = [owners, *replies]
        affiliations: dict[Jid, Affiliation] = {}
        for affiliation, reply in zip(AFFILIATIONS, lists, strict=True):
            for jid, _ in muc.parse_affiliations(reply):
                if jid.local and jid.domain != self._port.jid.domain:
                    affiliations.setdefault(jid, affiliation)
        return options_of(muc.parse_form(form)), tuple(affiliations.items()), extra_reply

    async def _set_affiliations(self, room: Jid, changes: Sequence[AffiliationChange],
                                batch: int) -> None:
        """In `batch` items per muc#admin set, in the order given."""
        for start in range(0, len(changes), batch):
            await self._iq(room, "set", muc.affiliation_set(changes[start:start + batch]),
                           "affiliation")

    async def _listed_rooms(self) -> list[Jid]:
        """The rooms the service lists to its admin, page by page."""
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
