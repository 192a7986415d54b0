"""Golden XML for the room builders and parsers of component/xmpp/muc.py."""

from __future__ import annotations

import pytest
from lxml import etree

from component.errors import Conflict, Forbidden, NotFound, XmppError
from component.jid import Jid
from component.xmpp import muc
from tests.unit.fakes import COMPONENT, HOST, MUC

ROOM = Jid("team", MUC)
ALICE = Jid("alice", HOST)


def xml(element: etree._Element) -> str:
    return etree.tostring(element).decode()


def c14n(text: str) -> str:
    return etree.tostring(etree.fromstring(text), method="c14n").decode()


def test_config_submit() -> None:
    assert xml(muc.config_submit({"muc#roomconfig_roomname": "Team <1>",
                                  "muc#roomconfig_presencebroadcast": ["moderator", "visitor"]})
               ) == (
        '<query xmlns="http://jabber.org/protocol/muc#owner"><x xmlns="jabber:x:data" '
        'type="submit"><field var="FORM_TYPE"><value>http://jabber.org/protocol/muc#roomconfig'
        '</value></field><field var="muc#roomconfig_roomname"><value>Team &lt;1&gt;</value>'
        '</field><field var="muc#roomconfig_presencebroadcast"><value>moderator</value>'
        '<value>visitor</value></field></x></query>')


def test_affiliations_destroy_and_mucsub() -> None:
    assert xml(muc.affiliation_set([(ALICE, "member")], reason="joined")) == (
        '<query xmlns="http://jabber.org/protocol/muc#admin"><item affiliation="member" '
        f'jid="{ALICE}"><reason>joined</reason></item></query>')
    assert xml(muc.affiliation_list("owner")) == (
        '<query xmlns="http://jabber.org/protocol/muc#admin"><item affiliation="owner"/>'
        '</query>')
    assert xml(muc.destroy("bye")) == (
        '<query xmlns="http://jabber.org/protocol/muc#owner"><destroy><reason>bye</reason>'
        '</destroy></query>')
    assert xml(muc.subscribe(ALICE, "Al", ["urn:xmpp:mucsub:nodes:messages"])) == (
        f'<subscribe xmlns="urn:xmpp:mucsub:0" jid="{ALICE}" nick="Al">'
        '<event node="urn:xmpp:mucsub:nodes:messages"/></subscribe>')
    assert xml(muc.unsubscribe(ALICE)) == f'<unsubscribe xmlns="urn:xmpp:mucsub:0" jid="{ALICE}"/>'


def test_disco_items_paging() -> None:
    assert xml(muc.disco_items_request(100, "r9")) == (
        '<query xmlns="http://jabber.org/protocol/disco#items"><set '
        'xmlns="http://jabber.org/protocol/rsm"><max>100</max><after>r9</after></set></query>')
    page = muc.parse_disco_items(etree.fromstring(
        f"<iq xmlns='jabber:component:accept' type='result'><query "
        f"xmlns='http://jabber.org/protocol/disco#items'><item jid='a@{MUC}' name='A'/>"
        f"<item jid='bad jid@{MUC}'/><item jid='b@{MUC}'/><set "
        "xmlns='http://jabber.org/protocol/rsm'><count>3</count><last>b</last></set></query>"
        "</iq>"))
    assert (page.jids, page.last) == ([Jid("a", MUC), Jid("b", MUC)], "b")


def test_parse_affiliations_subscriptions_and_form() -> None:
    reply = etree.fromstring(
        "<iq type='result' xmlns='jabber:component:accept'><query "
        f"xmlns='http://jabber.org/protocol/muc#admin'><item jid='{COMPONENT}' "
        f"affiliation='owner'/><item jid='Alice@QTALK.test.org/x' affiliation='owner'/></query>"
        "</iq>")
    assert muc.parse_affiliations(reply) == [(Jid.parse(COMPONENT), "owner"),
                                             (Jid("alice", HOST), "owner")]
    subs = etree.fromstring(
        "<iq type='result'><subscriptions xmlns='urn:xmpp:mucsub:0'><subscription "
        f"jid='{ALICE}' nick='Al'><event node='n'/></subscription></subscriptions></iq>")
    assert muc.parse_subscriptions(subs) == {ALICE: "Al"}
    form = etree.fromstring(
        "<iq type='result'><query xmlns='http://jabber.org/protocol/muc#owner'><x "
        "xmlns='jabber:x:data' type='form'><field var='a'><value>1</value></field><field "
        "var='b'/><field var='c'><value/><value>x</value></field></x></query></iq>")
    assert muc.parse_form(form) == {"a": ["1"], "b": [], "c": ["", "x"]}


def test_parse_vcard() -> None:
    def card(inner: str) -> etree._Element:
        return etree.fromstring(f"<iq type='result'><vCard xmlns='vcard-temp'>{inner}</vCard>"
                                "</iq>")

    assert muc.parse_vcard(card("<FN>Alice L</FN><NICKNAME> Al </NICKNAME>")).nick == "Al"
    assert muc.parse_vcard(card("<FN>Alice L</FN>")).nick == "Alice L"
    assert muc.parse_vcard(card("")) == muc.VcardData(found=False)
    photo = muc.parse_vcard(card("<PHOTO><TYPE>image/png</TYPE><BINVAL>aGk=</BINVAL></PHOTO>"))
    assert (photo.found, photo.photo_type, photo.photo_data) == (True, "image/png", b"hi")
    url = muc.parse_vcard(card("<PHOTO><EXTVAL>https://x/a.png</EXTVAL></PHOTO>"))
    assert url.photo_url == "https://x/a.png"


def test_invitation_and_profile_notice() -> None:
    invite = muc.invitation(ALICE, Jid("bob", HOST), ROOM, stanza_id="i1", reason="join us")
    assert c14n(invite.data.decode()) == c14n(
        f"<message type='normal' id='i1' to='bob@{HOST}' from='{ALICE}'><x "
        f"xmlns='jabber:x:conference' jid='{ROOM}' reason='join us'/></message>")
    assert (invite.kind, invite.sender, invite.recipient) == ("message", ALICE, Jid("bob", HOST))
    card = muc.ProfileCard(nick="Team", desc="d", title="t", pic="/p.png", version=3)
    notice = muc.profile_notice(Jid.parse(COMPONENT), ROOM, card, stanza_id="n1")
    assert c14n(notice.data.decode()) == c14n(
        f"<message type='groupchat' id='n1' to='{ROOM}' from='{COMPONENT}'><x "
        "xmlns='http://jabber.org/protocol/muc#user'><status code='104'/></x><vcard_updte "
        "xmlns='http://jabber.org/protocol/muc#vcard_update' nick='Team' desc='d' title='t' "
        "pic='/p.png' version='3'/></message>")


def error_reply(condition: str, text: str = "") -> etree._Element:
    text_el = (f"<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>{text}</text>"
               if text else "")
    return etree.fromstring(
        "<iq xmlns='jabber:component:accept' type='error'><query/><error type='cancel'>"
        f"<{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>{text_el}</error></iq>")


@pytest.mark.parametrize(("condition", "error"), [
    ("item-not-found", NotFound), ("forbidden", Forbidden), ("not-allowed", Forbidden),
    ("conflict", Conflict), ("registration-required", XmppError)])
def test_error_replies_become_api_errors(condition: str, error: type[Exception]) -> None:
    with pytest.raises(error, match="r@x: subscribe"):
        muc.check_reply(error_reply(condition, "Some text"), "r@x: subscribe")
    ok = etree.fromstring("<iq type='result'/>")
    assert muc.check_reply(ok, "x") is ok
    assert muc.error_of(error_reply(condition, "Some text")) == (condition, "Some text")
