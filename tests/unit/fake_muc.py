"""Fakes at the room ports: an in-memory MUC service, and a scripted iq port.

FakeMuc keeps rooms as ejabberd does for a service admin (affiliations, subscriptions with
unique nicks, a configuration) and records every call, so service tests check outcomes and
the order of server operations without a server. ScriptedIq answers iqs with whatever a test
queued, and records what was sent, for the XML-level adapter tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from lxml import etree

from component.errors import ApiError, Conflict, NotFound, XmppError
from component.jid import Jid
from component.rooms.model import AffiliationChange, Member, OptionChange, RoomOptions, RoomSnapshot
from component.xmpp import muc
from component.xmpp.stanza_values import Stanza
from tests.unit.fakes import COMPONENT, MUC


@dataclass
class FakeRoom:
    options: RoomOptions
    affiliations: dict[Jid, str] = field(default_factory=dict)
    nicks: dict[Jid, str] = field(default_factory=dict)


class FakeMuc:
    def __init__(self) -> None:
        self.rooms: dict[Jid, FakeRoom] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail: dict[str, ApiError] = {}  # operation (or "operation user") -> error
        self.refuse_users: set[Jid] = set()  # affiliation changes for them are refused

    def _call(self, operation: str, detail: object = "") -> None:
        self.calls.append((operation, str(detail)))
        for key in (operation, f"{operation} {detail}"):
            if key in self.fail:
                raise self.fail[key]

    def _room(self, room: Jid) -> FakeRoom:
        if room not in self.rooms:
            raise NotFound(f"{room}: Conference room does not exist")
        return self.rooms[room]

    def add_room(self, room: Jid, owner: Jid, *members: Jid, nick: bool = True) -> None:
        """A room made elsewhere (by a client, say): affiliations, maybe no subscriptions."""
        fake = FakeRoom(RoomOptions(name=room.local, max_users=200))
        fake.affiliations[owner] = "owner"
        fake.affiliations.update(dict.fromkeys(members, "member"))
        if nick:
            fake.nicks = {jid: jid.local for jid in fake.affiliations}
        self.rooms[room] = fake

    async def exists(self, room: Jid) -> bool:
        self._call("exists", room)
        return room in self.rooms

    async def create(self, room: Jid, change: OptionChange) -> None:
        self._call("create", room)
        self.rooms[room] = FakeRoom(change.apply(RoomOptions(max_users=200)))

    async def configure(self, room: Jid, change: OptionChange) -> None:
        self._call("configure", room)
        fake = self._room(room)
        options = change.apply(fake.options)
        if options.max_users is not None:
            options = replace(options, max_users=min(options.max_users, 10000))
        fake.options = options

    async def read(self, room: Jid) -> RoomSnapshot:
        self._call("read", room)
        fake = self._room(room)
        return RoomSnapshot(fake.options, tuple(fake.affiliations.items()),  # type: ignore[arg-type]
                            dict(fake.nicks))

    async def set_affiliations(self, room: Jid, changes: Sequence[AffiliationChange]) -> None:
        self._call("affiliations", ",".join(f"{jid}={a}" for jid, a in changes))
        fake = self._room(room)
        if any(jid in self.refuse_users for jid, _ in changes):
            raise XmppError("affiliation", condition="not-acceptable")
        for jid, affiliation in changes:
            if affiliation == "none":
                fake.affiliations.pop(jid, None)
            else:
                fake.affiliations[jid] = affiliation

    async def subscribe(self, room: Jid, user: Jid, nick: str) -> str:
        self._call("subscribe", user)
        fake = self._room(room)
        for candidate in (nick, f"{nick} ({user.local})", str(user)):
            if candidate not in {n for j, n in fake.nicks.items() if j != user}:
                fake.nicks[user] = candidate
                return candidate
        raise Conflict("no free nick")

    async def unsubscribe(self, room: Jid, user: Jid) -> None:
        self._call("unsubscribe", user)
        self._room(room).nicks.pop(user, None)

    async def destroy(self, room: Jid, reason: str) -> None:
        self._call("destroy", room)
        self.rooms.pop(room, None)

    async def list_rooms(self) -> list[Jid]:
        self._call("list")
        return list(self.rooms)

    async def group_sender(self, room: Jid, member: Member, nick: str) -> tuple[Jid, str]:
        if member.nick:
            return member.jid, member.nick
        return member.jid, await self.subscribe(room, member.jid, nick)

    def notice_stanzas(self, room: Jid, card: muc.ProfileCard, *,
                       stanza_id: str) -> list[Stanza]:
        return [muc.profile_notice(Jid.parse(COMPONENT), room, card, stanza_id=stanza_id)]

    def ops(self, operation: str) -> list[str]:
        return [detail for op, detail in self.calls if op == operation]


Reply = str | Callable[[etree._Element], str]


class ScriptedIq:
    """An IqPort whose replies a test queues, as XML with `{id}` for the request's id."""

    def __init__(self, *replies: Reply) -> None:
        self.jid = Jid.parse(COMPONENT)
        self.replies: list[Reply] = list(replies)
        self.sent: list[etree._Element] = []
        self._ids = 0
        self.delay = 0.0

    def new_id(self) -> str:
        self._ids += 1
        return f"iq{self._ids}"

    async def request(self, stanza: Stanza) -> etree._Element:
        iq = etree.fromstring(stanza.data)
        self.sent.append(iq)
        if self.delay:
            await asyncio.sleep(self.delay)
        reply = self.replies.pop(0) if self.replies else "<iq type='result' id='{id}'/>"
        text = reply(iq) if callable(reply) else reply
        return etree.fromstring(text.replace("{id}", iq.get("id", "")))


def room_jid(name: str) -> Jid:
    return Jid(name, MUC)
