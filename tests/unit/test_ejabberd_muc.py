"""The ejabberd adapter against scripted iq replies: what it sends, in which order, and how
it reads the answers (the quirks of reference xmpp-servers.md §3c, §3f, §10)."""

from __future__ import annotations

import pytest

from component.errors import Conflict, NotFound, XmppError
from component.jid import Jid
from component.rooms.model import Member, OptionChange
from component.xmpp import muc
from component.xmpp.ejabberd_muc import EjabberdMuc
from tests.unit.fake_muc import ScriptedIq, room_jid
from tests.unit.fakes import COMPONENT, HOST, MUC

ROOM = room_jid("team")
ALICE = Jid("alice", HOST)
ADMIN_NS = "http://jabber.org/protocol/muc#admin"
NOT_FOUND = ("<iq type='error' id='{id}'><error type='cancel'><item-not-found "
             "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
CONFLICT = ("<iq type='error' id='{id}'><error type='cancel'><conflict "
            "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")


def items(affiliation: str, *jids: str) -> str:
    inner = "".join(f"<item jid='{j}' affiliation='{affiliation}'/>" for j in jids)
    return f"<iq type='result' id='{{id}}'><query xmlns='{ADMIN_NS}'>{inner}</query></iq>"


def payload_tag(index: int, port: ScriptedIq) -> str:
    return str(port.sent[index][0].tag)


async def test_read_asks_the_owner_list_first_and_leaves_the_component_out() -> None:
    form = ("<iq type='result' id='{id}'><query xmlns='http://jabber.org/protocol/muc#owner'>"
            "<x xmlns='jabber:x:data' type='form'>"
            "<field var='muc#roomconfig_roomname'><value>Team</value></field>"
            "<field var='muc#roomconfig_maxusers'><value>50</value></field>"
            "<field var='muc#roomconfig_membersonly'><value>1</value></field>"
            "<field var='allow_subscription'><value>1</value></field></x></query></iq>")
    subs = ("<iq type='result' id='{id}'><subscriptions xmlns='urn:xmpp:mucsub:0'>"
            f"<subscription jid='{ALICE}' nick='Al'/></subscriptions></iq>")
    port = ScriptedIq(items("owner", COMPONENT, str(ALICE)), form, subs,
                      items("admin"), items("member", f"bob@{HOST}", f"x@{COMPONENT}"))
    snapshot = await EjabberdMuc(port, MUC).read(ROOM)
    assert payload_tag(0, port) == f"{{{ADMIN_NS}}}query"
    assert port.sent[0][0][0].get("affiliation") == "owner"
    assert snapshot.affiliations == ((ALICE, "owner"), (Jid("bob", HOST), "member"))
    assert snapshot.nicks == {ALICE: "Al"}
    options = snapshot.options
    assert (options.name, options.max_users, options.members_only, options.persistent,
            options.allow_subscription) == ("Team", 50, True, False, True)


async def test_read_of_a_missing_room_sends_no_owner_query() -> None:
    port = ScriptedIq(NOT_FOUND)
    with pytest.raises(NotFound):
        await EjabberdMuc(port, MUC).read(ROOM)
    assert len(port.sent) == 1  # a muc#owner get would have created a transient room


async def test_exists_create_and_destroy() -> None:
    port = ScriptedIq(NOT_FOUND, "<iq type='result' id='{id}'/>")
    server = EjabberdMuc(port, MUC)
    assert await server.exists(ROOM) is False
    assert await server.exists(ROOM) is True
    await server.create(ROOM, OptionChange(name="Team", description="d"))
    form = muc.parse_form(port.sent[2])
    assert form == {"FORM_TYPE": ["http://jabber.org/protocol/muc#roomconfig"],
                    "muc#roomconfig_roomname": ["Team"], "muc#roomconfig_roomdesc": ["d"],
                    "muc#roomconfig_persistentroom": ["1"],
                    "muc#roomconfig_membersonly": ["1"], "allow_subscription": ["1"],
                    "muc#roomconfig_publicroom": ["0"]}
    assert port.sent[2].get("type") == "set"
    assert port.sent[2].get("from") == COMPONENT
    await server.configure(ROOM, OptionChange())
    assert len(port.sent) == 3  # an empty change sends nothing


async def test_subscribe_tries_other_nicks_on_conflict() -> None:
    port = ScriptedIq(CONFLICT, CONFLICT)
    assert await EjabberdMuc(port, MUC).subscribe(ROOM, ALICE, "Al") == str(ALICE)
    assert [iq[0].get("nick") for iq in port.sent] == ["Al", "Al (alice)", str(ALICE)]
    port = ScriptedIq(CONFLICT, CONFLICT, CONFLICT)
    with pytest.raises(Conflict):
        await EjabberdMuc(port, MUC).subscribe(ROOM, ALICE, "Al")


async def test_group_sender_subscribes_a_member_who_is_not_yet() -> None:
    port = ScriptedIq()
    server = EjabberdMuc(port, MUC)
    assert await server.group_sender(ROOM, Member(ALICE, "member", "Al"), "x") == (ALICE, "Al")
    assert port.sent == []
    assert await server.group_sender(ROOM, Member(ALICE, "member"), "Al") == (ALICE, "Al")
    assert port.sent[0][0].tag == "{urn:xmpp:mucsub:0}subscribe"


async def test_list_rooms_pages_with_rsm() -> None:
    def page(names: list[str], last: str | None) -> str:
        inner = "".join(f"<item jid='{n}@{MUC}'/>" for n in names)
        rsm = (f"<set xmlns='http://jabber.org/protocol/rsm'><last>{last}</last></set>"
               if last else "")
        return (f"<iq type='result' id='{{id}}'><query "
                f"xmlns='http://jabber.org/protocol/disco#items'>{inner}{rsm}</query></iq>")

    port = ScriptedIq(page(["a", "b"], "b"), page(["c"], "c"), page([], None))
    assert await EjabberdMuc(port, MUC).list_rooms() == [room_jid(n) for n in "abc"]
    assert [iq.findtext(".//{http://jabber.org/protocol/rsm}after") for iq in port.sent] == [
        None, "b", "c"]
    assert {iq.get("to") for iq in port.sent} == {MUC}


async def test_affiliations_go_in_batches_and_errors_are_kept() -> None:
    port = ScriptedIq()
    users = [(Jid(f"u{i}", HOST), "member") for i in range(250)]
    await EjabberdMuc(port, MUC).set_affiliations(ROOM, users)  # type: ignore[arg-type]
    assert [len(iq[0]) for iq in port.sent] == [100, 100, 50]
    port = ScriptedIq("<iq type='error' id='{id}'><error type='modify'><not-acceptable "
                      "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
    with pytest.raises(XmppError, match="not-acceptable"):
        await EjabberdMuc(port, MUC).set_affiliations(ROOM, [(ALICE, "member")])
