"""The Prosody adapter against scripted replies: what it sends, in which order, and what it
refuses (the quirks of prosody_muc.py's docstring), plus the join/leave golden XML."""

from __future__ import annotations

import pytest
from lxml import etree

from component.errors import NotSupported, XmppError
from component.jid import Jid
from component.rooms.model import Member, OptionChange
from component.xmpp import muc
from component.xmpp.prosody_muc import ProsodyMuc
from component.xmpp.stanza_values import Stanza
from tests.unit.fake_muc import Reply, ScriptedIq, room_jid
from tests.unit.fakes import COMPONENT, HOST, MUC

ROOM = room_jid("team")
ALICE = Jid("alice", HOST)
ADMIN_NS = "http://jabber.org/protocol/muc#admin"
OWNER_NS = "http://jabber.org/protocol/muc#owner"
ERROR = ("<iq type='error' id='{id}'><error type='cancel'><%s "
         "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")


class ScriptedMucPort(ScriptedIq):
    """ScriptedIq that also records presences and messages written with `send`, interleaved
    with the iqs in `wire` (the order the server would see)."""

    def __init__(self, *replies: Reply) -> None:
        super().__init__(*replies)
        self.wire: list[str] = []

    def send(self, stanza: Stanza) -> None:
        self.wire.append(f"{stanza.kind} {etree.fromstring(stanza.data).get('type', '')}")

    async def request(self, stanza: Stanza) -> etree._Element:
        self.wire.append(f"iq {etree.fromstring(stanza.data).get('type')}")
        return await super().request(stanza)


class Registry:
    def __init__(self, *rooms: Jid) -> None:
        self.rooms = rooms

    async def synced_at(self) -> dict[Jid, float]:
        return dict.fromkeys(self.rooms, 1.0)


def server(port: ScriptedMucPort, *known: Jid) -> ProsodyMuc:
    return ProsodyMuc(port, MUC, Registry(*known))


def items(affiliation: str, *jids: str) -> str:
    inner = "".join(f"<item jid='{j}' affiliation='{affiliation}'/>" for j in jids)
    return f"<iq type='result' id='{{id}}'><query xmlns='{ADMIN_NS}'>{inner}</query></iq>"


async def test_create_joins_configures_then_leaves() -> None:
    port = ScriptedMucPort()
    await server(port).create(ROOM, OptionChange(name="Team", description="d"))
    assert port.wire == ["presence ", "iq set", "presence unavailable"]
    form = muc.parse_form(port.sent[0])
    assert form == {"FORM_TYPE": ["http://jabber.org/protocol/muc#roomconfig"],
                    "muc#roomconfig_roomname": ["Team"], "muc#roomconfig_roomdesc": ["d"],
                    "muc#roomconfig_persistentroom": ["1"],
                    "muc#roomconfig_membersonly": ["1"], "muc#roomconfig_publicroom": ["0"]}
    assert port.sent[0].get("from") == COMPONENT


async def test_create_refused_on_join_is_a_server_error_and_still_leaves() -> None:
    port = ScriptedMucPort(ERROR % "item-not-found")
    with pytest.raises(XmppError, match="did not create the room"):
        await server(port).create(ROOM, OptionChange())
    assert port.wire[-1] == "presence unavailable"


async def test_max_users_is_refused_before_anything_is_sent() -> None:
    port = ScriptedMucPort()
    for call in (server(port).create, server(port).configure):
        with pytest.raises(NotSupported, match="max_users"):
            await call(ROOM, OptionChange(name="x", max_users=50))
    assert port.wire == []
    await server(port).configure(ROOM, OptionChange(name="x"))
    assert port.wire == ["iq set"]


async def test_read_has_no_subscriptions_and_leaves_the_component_out() -> None:
    form = (f"<iq type='result' id='{{id}}'><query xmlns='{OWNER_NS}'>"
            "<x xmlns='jabber:x:data' type='form'>"
            "<field var='muc#roomconfig_roomname'><value>Team</value></field>"
            "<field var='muc#roomconfig_persistentroom'><value>1</value></field></x>"
            "</query></iq>")
    port = ScriptedMucPort(items("owner", COMPONENT, str(ALICE)), form, items("admin"),
                           items("member", f"bob@{HOST}"))
    snapshot = await server(port).read(ROOM)
    assert [iq[0].tag for iq in port.sent] == [f"{{{ADMIN_NS}}}query", f"{{{OWNER_NS}}}query",
                                               f"{{{ADMIN_NS}}}query", f"{{{ADMIN_NS}}}query"]
    assert snapshot.affiliations == ((ALICE, "owner"), (Jid("bob", HOST), "member"))
    assert snapshot.nicks == {}
    assert (snapshot.options.name, snapshot.options.max_users,
            snapshot.options.allow_subscription) == ("Team", None, False)


async def test_a_tombstone_is_no_room() -> None:
    port = ScriptedMucPort(ERROR % "gone")
    assert await server(port).exists(ROOM) is False


async def test_affiliations_one_per_iq_in_order() -> None:
    port = ScriptedMucPort()
    bob = Jid("bob", HOST)
    await server(port).set_affiliations(ROOM, [(bob, "owner"), (ALICE, "none")])
    assert [[(i.get("jid"), i.get("affiliation")) for i in iq[0]] for iq in port.sent] == [
        [(str(bob), "owner")], [(str(ALICE), "none")]]


async def test_no_mucsub_membership_is_the_affiliation() -> None:
    port = ScriptedMucPort()
    prosody = server(port)
    assert await prosody.subscribe(ROOM, ALICE, "Al") == ""
    await prosody.unsubscribe(ROOM, ALICE)
    assert port.wire == []
    with pytest.raises(NotSupported, match="MucSub"):
        await prosody.group_sender(ROOM, Member(ALICE, "member"), "Al")


async def test_rooms_are_the_store_and_the_public_listing() -> None:
    listing = ("<iq type='result' id='{id}'><query xmlns='http://jabber.org/protocol/disco#items'>"
               f"<item jid='{room_jid('b')}'/><item jid='{room_jid('c')}'/></query></iq>")
    port = ScriptedMucPort(listing)
    rooms = await server(port, room_jid("a"), room_jid("b")).list_rooms()
    assert rooms == [room_jid("a"), room_jid("b"), room_jid("c")]


def test_notice_is_posted_by_joining_posting_leaving() -> None:
    card = muc.ProfileCard(nick="Team", desc="", title="", pic="", version=2)
    stanzas = server(ScriptedMucPort()).notice_stanzas(ROOM, card, stanza_id="n1")
    assert [s.kind for s in stanzas] == ["presence", "message", "presence"]
    assert [s.recipient for s in stanzas] == [Jid("team", MUC, COMPONENT), ROOM,
                                              Jid("team", MUC, COMPONENT)]
    assert {s.sender for s in stanzas} == {Jid.parse(COMPONENT)}


def test_join_and_leave_golden() -> None:
    me = Jid.parse(COMPONENT)
    assert muc.join(me, ROOM, "api", stanza_id="j1").data == (
        b'<presence id="j1" to="team@conference.qtalk.test.org/api" from="api.qtalk.test.org">'
        b'<x xmlns="http://jabber.org/protocol/muc"><history maxstanzas="0"/></x></presence>')
    assert muc.leave(me, ROOM, "api", stanza_id="l1").data == (
        b'<presence type="unavailable" id="l1" to="team@conference.qtalk.test.org/api" '
        b'from="api.qtalk.test.org"/>')
