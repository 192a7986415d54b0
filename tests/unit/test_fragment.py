"""Parsing caller-supplied `<message>` XML: what is kept, what is refused."""

from __future__ import annotations

import pytest
from lxml import etree

from component.errors import ApiError, BadStanza, TooLarge
from component.jid import Jid
from component.xmpp import fragment

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
