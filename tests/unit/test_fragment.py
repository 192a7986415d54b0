"""Parsing caller-supplied `<message>` XML: what is kept, what is refused."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from component.errors import ApiError, BadStanza, TooLarge
from component.jid import Jid
from component.xmpp import fragment
from component.xmpp.stanzas import StartalkFields

ALICE = Jid.parse("alice@qtalk.test.org")
BOB = Jid.parse("bob@qtalk.test.org")
LIMIT = 64 << 10


def prepared(xml: str) -> etree._Element:
    stanza = fragment.prepare_message(fragment.parse_message(xml, LIMIT), ALICE, BOB)
    return etree.fromstring(stanza.data)


def test_keeps_attributes_and_children_and_adds_the_carrier() -> None:
    message = prepared(
        "<message type='chat' msec_times='9'><body id='b1' msgType='3' maType='20' "
        "extendInfo='{}'>hi</body><x xmlns='urn:custom' a='b'>p</x></message>")
    assert message.get("id") == "b1"
    assert (message.get("from"), message.get("to")) == (str(ALICE), str(BOB))
    body = message.find("body")
    assert body is not None
    assert dict(body.attrib) == {"id": "b1", "msgType": "3", "maType": "20", "extendInfo": "{}"}
    assert message.find("{urn:custom}x") is not None
    carrier = message.find("{urn:qtalk:message}qtalk")
    assert carrier is not None
    assert dict(carrier.attrib) == {"msgType": "3", "maType": "20", "extendInfo": "{}",
                                    "id": "b1", "msec_times": "9"}


def test_startalk_type_travels_in_the_carrier() -> None:
    message = prepared("<message type='revoke'><body>x</body></message>")
    assert message.get("type") == "chat"
    carrier = message.find("{urn:qtalk:message}qtalk")
    assert carrier is not None
    assert carrier.get("type") == "revoke"


def test_gives_an_id_when_there_is_none() -> None:
    message = prepared("<message><body>x</body></message>")
    stanza_id = message.get("id")
    assert stanza_id
    assert stanza_id.startswith("http")
    body = message.find("body")
    assert body is not None
    assert body.get("id") == stanza_id


def test_client_namespace_is_rerooted_and_addresses_replaced() -> None:
    message = prepared("<message xmlns='jabber:client' from='evil@elsewhere' to='x@y'>"
                       "<body>x</body></message>")
    assert message.tag == "message"
    assert message.find("body") is not None
    assert message.get("from") == str(ALICE)


def test_a_forged_carrier_is_replaced() -> None:
    message = prepared("<message><body msgType='1'>x</body>"
                       "<qtalk xmlns='urn:qtalk:message' msgType='666'/></message>")
    carriers = message.findall("{urn:qtalk:message}qtalk")
    assert [c.get("msgType") for c in carriers] == ["1"]


HOSTILE = {
    "iq": "<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>",
    "presence": "<presence type='unavailable'/>",
    "two roots": "<message/><message/>",
    "doctype": "<!DOCTYPE message><message/>",
    "internal entity": "<!DOCTYPE m [<!ENTITY e 'x'>]><message>&e;</message>",
    "billion laughs": ("<!DOCTYPE m [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;'>"
                       "<!ENTITY c '&b;&b;&b;&b;&b;&b;&b;'>]><message><body>&c;</body></message>"),
    "external entity": ("<!DOCTYPE m [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
                        "<message><body>&x;</body></message>"),
    "undefined entity": "<message><body>&nope;</body></message>",
    "comment": "<message><!-- c --><body>x</body></message>",
    "comment after the root": "<message><body>x</body></message><!-- c -->",
    "CDATA with a comment's look": "<message><body><![CDATA[<!-- -->]]></body><!--c--></message>",
    "processing instruction": "<?pi x?><message/>",
    "invalid character": "<message><body>\x01</body></message>",
    "not xml": "hello",
    "empty": "",
    "foreign namespace root": "<message xmlns='urn:evil'/>",
    "truncated": "<message><body>x</body>",
}


@pytest.mark.parametrize("xml", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_input_is_refused(xml: str) -> None:
    with pytest.raises(BadStanza):
        fragment.parse_message(xml, LIMIT)


def test_size_over_the_limit_is_refused_before_parsing() -> None:
    with pytest.raises(TooLarge):
        fragment.parse_message("<message><body>" + "x" * LIMIT + "</body></message>", LIMIT)


def test_body_text_over_its_limit_is_refused() -> None:
    xml = "<message><body>" + "x" * 11 + "</body></message>"
    element = fragment.parse_message(xml, LIMIT)
    fragment.check_body_length(element, 11, len(xml))
    with pytest.raises(TooLarge):
        fragment.check_body_length(element, 10, len(xml))
    # entities: 11 characters of body from 55 of XML
    xml = "<message><body>" + "&amp;" * 11 + "</body></message>"
    element = fragment.parse_message(xml, LIMIT)
    fragment.check_body_length(element, 11, len(xml))
    with pytest.raises(TooLarge):
        fragment.check_body_length(element, 10, len(xml))


def test_every_refusal_is_an_api_error() -> None:
    assert issubclass(BadStanza, ApiError)


# -- the spliced stanza is the edited one ------------------------------------------------
# `prepare_message` splices a plain message's text instead of editing and serialising its
# tree; both must give the same XML, whatever the caller wrote.

def _both(xml: str) -> tuple[bytes | None, bytes]:
    """The spliced and the edited stanza for one message (the same id for both)."""
    message = fragment.parse_message(xml, LIMIT)
    body = fragment.body_of(message.root)
    stanza_id = fragment.caller_id(message) or "given-id"
    fields = StartalkFields(
        msg_type=body.get("msgType") if body is not None else None,
        body_id=(body.get("id") or stanza_id) if body is not None else None)
    needs_id = body is not None and body.get("id") is None
    spliced = fragment.spliced(message, ALICE, BOB, stanza_id, "chat", fields, needs_id) \
        if message.plain else None
    edited = fragment.edited(fragment.parse_message(xml, LIMIT).root, ALICE, BOB, stanza_id,
                             "chat", fields, needs_id)
    return spliced, edited


def _canonical(data: bytes) -> bytes:
    return bytes(etree.tostring(etree.fromstring(data), method="c14n"))


_NAME = st.sampled_from(["type", "id", "from", "to", "msec_times", "xml:lang", "a", "x-y"])
_TEXT = st.text(st.sampled_from(list("ab <>&'\"\n\t中😀")), max_size=8).map(
    lambda t: t.replace("&", "&amp;").replace("<", "&lt;"))


def _attrs(draw: st.DrawFn) -> str:
    names = draw(st.lists(_NAME, unique=True, max_size=4))
    out = ""
    for name in names:
        value = draw(_TEXT).replace("'", "&apos;").replace('"', "&quot;")
        quote = draw(st.sampled_from(["'", '"']))
        out += f"{draw(st.sampled_from([' ', '  ', chr(10)]))}{name}={quote}{value}{quote}"
    return out


@st.composite
def _element(draw: st.DrawFn, depth: int = 0) -> str:
    tag = draw(st.sampled_from(["body", "x", "subject", "bodyx", "message"]))
    attrs = _attrs(draw)
    if depth >= 2 or draw(st.booleans()):
        return f"<{tag}{attrs}{draw(st.sampled_from(['/', ' /']))}>"
    children = draw(st.lists(st.one_of(_TEXT, _element(depth + 1)), max_size=3))
    return f"<{tag}{attrs}>{''.join(children)}</{tag}{draw(st.sampled_from(['', ' ']))}>"


@st.composite
def _messages(draw: st.DrawFn) -> str:
    attrs = _attrs(draw)
    if draw(st.integers(0, 9)) == 0:
        return f"<message{attrs}/>"
    children = draw(st.lists(st.one_of(_TEXT, _element()), max_size=4))
    return f"<message{attrs}>{''.join(children)}</message{draw(st.sampled_from(['', ' ']))}>"


@given(_messages())
def test_the_spliced_stanza_is_the_edited_one(xml: str) -> None:
    spliced, edited = _both(xml)
    if spliced is not None:
        assert _canonical(spliced) == _canonical(edited), xml


@pytest.mark.parametrize("xml", [
    "<message type='chat'><body>hi</body></message>",
    "<message><body>x</body></message>",
    "<message\n type = \"chat\"  id='m1' msec_times='5'><body msgType='3'>a &amp; b</body>"
    "<x a='&gt;'><y/></x></message >",
    "<message xml:lang='zh'><body/></message>",
    "<message/>",
    "<message to='evil@x' from=\"evil@y\"><bodyx/><body id='b'>t</body></message>",
])
def test_usual_messages_are_spliced(xml: str) -> None:
    spliced, edited = _both(xml)
    assert spliced is not None
    assert _canonical(spliced) == _canonical(edited)


@pytest.mark.parametrize("xml", [
    " <message><body>x</body></message>",              # whitespace before the root
    "<message><x><body>n</body></x><body>x</body></message>",  # whose body gets the id?
])
def test_unusual_messages_are_edited(xml: str) -> None:
    spliced, edited = _both(xml)
    assert spliced is None
    assert b"given-id" in edited


def test_namespaced_and_commented_messages_are_not_plain() -> None:
    for xml in ("<message xmlns='jabber:client'><body>x</body></message>",
                "<message><body><![CDATA[<b>]]></body></message>"):
        assert not fragment.parse_message(xml, LIMIT).plain


def test_the_epoch_milliseconds_follow_the_clock() -> None:
    """Its text is made again only when the millisecond moved on: it still moves on."""
    before = time.time_ns() // 1_000_000
    first = fragment.epoch_ms()
    time.sleep(0.003)
    second = fragment.epoch_ms()
    after = time.time_ns() // 1_000_000
    assert before <= int(first) < int(second) <= after
    assert (first + second).isdigit()
    made = fragment.new_message_id(second)
    assert made.startswith("http")
    assert made.endswith(second)
    assert made[4:].isdigit()
