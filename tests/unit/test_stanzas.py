"""Golden-XML tests for the pure stanza builders."""

from __future__ import annotations

import pytest
from lxml import etree

from component.errors import BadRequest
from component.jid import Jid
from component.xmpp import stanzas
from component.xmpp.stanzas import StartalkFields

ALICE = Jid.parse("alice@qtalk.test.org")
BOB = Jid.parse("bob@qtalk.test.org")


def test_message_golden() -> None:
    fields = StartalkFields(msg_type="1", extend_info="{\"k\":\"v\"}",
                            startalk_type="revoke", msec_times="42")
    stanza = stanzas.build_message(ALICE, BOB, stanza_id="m1", msg_type="chat",
                                   body="a<b & 'c'\r\n", fields=fields)
    assert stanza.data == (
        b"<message type='chat' id='m1' from='alice@qtalk.test.org' to='bob@qtalk.test.org'"
        b" msec_times='42'><body id='m1' msgType='1' extendInfo='{&quot;k&quot;:&quot;v&quot;}'>"
        b"a&lt;b &amp; 'c'&#13;\n</body><qtalk xmlns='urn:qtalk:message' msgType='1'"
        b" extendInfo='{&quot;k&quot;:&quot;v&quot;}' id='m1' type='revoke' msec_times='42'/>"
        b"</message>")
    parsed = etree.fromstring(stanza.data)
    assert parsed.findtext("body") == "a<b & 'c'\r\n"
    assert (stanza.kind, stanza.id, stanza.sender, stanza.recipient) == ("message", "m1",
                                                                          ALICE, BOB)


@pytest.mark.parametrize("bad", ["\x00", "\x07", "\ud800", "\uffff", "\x1b[0m"])
def test_forbidden_characters_are_refused(bad: str) -> None:
    with pytest.raises(BadRequest, match="not allowed in XML"):
        stanzas.build_message(ALICE, BOB, stanza_id="m", msg_type="chat", body=f"x{bad}",
                              fields=StartalkFields())


def test_attribute_whitespace_survives_parsing() -> None:
    stanza = stanzas.build_notify(ALICE, BOB, stanza_id="n1", category="7",
                                  data="line1\nline2\ttab")
    notify = etree.fromstring(stanza.data).find(f"{{{stanzas.NOTIFY_NS}}}notify")
    assert notify is not None
    assert notify.get("data") == "line1\nline2\ttab"


def test_notify_golden() -> None:
    stanza = stanzas.build_notify(ALICE, BOB, stanza_id="n1", category="7", data="d")
    assert stanza.data == (
        b"<message type='headline' id='n1' from='alice@qtalk.test.org' to='bob@qtalk.test.org'>"
        b"<notify xmlns='jabber:x:presence_notify' category='7' data='d'/></message>")


def test_sent_carbon_wraps_the_message_in_the_client_namespace() -> None:
    inner = stanzas.build_message(ALICE, BOB, stanza_id="m1", msg_type="chat", body="hi",
                                  fields=StartalkFields(body_id="m1"))
    carbon = stanzas.build_sent_carbon(Jid.parse("alice@qtalk.test.org/pc"), inner,
                                       stanza_id="m1-carbon")
    assert carbon.sender == carbon.recipient == ALICE
    root = etree.fromstring(carbon.data)
    forwarded = root.find("{urn:xmpp:carbons:2}sent/{urn:xmpp:forward:0}forwarded")
    assert forwarded is not None
    message = forwarded.find("{jabber:client}message")
    assert message is not None
    assert message.get("to") == "bob@qtalk.test.org"
    assert root.find("{urn:xmpp:hints}no-store") is not None
    assert inner.durable
    assert not carbon.durable  # a courtesy copy: not kept in the outbox


def test_ping_and_iq_error_golden() -> None:
    server = Jid.parse("qtalk.test.org")
    me = Jid.parse("api.qtalk.test.org")
    assert stanzas.build_ping(me, server, stanza_id="p1").data == (
        b"<iq type='get' id='p1' from='api.qtalk.test.org' to='qtalk.test.org'>"
        b"<ping xmlns='urn:xmpp:ping'/></iq>")
    error = stanzas.build_iq_error(me, ALICE, stanza_id="q1", error_type="cancel",
                                   condition="item-not-found", message="no <room>")
    assert error.data == (
        b"<iq type='error' id='q1' from='api.qtalk.test.org' to='alice@qtalk.test.org'>"
        b"<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        b"<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no &lt;room&gt;</text></error></iq>")


def test_handshake_is_lowercase_hex_sha1_of_id_and_secret() -> None:
    assert stanzas.handshake("3BF96D32", "test") == (
        b"<handshake>aaee83c26aeeafcbabeabfcbcd50df997e0a2a1e</handshake>")


def test_split_type_keeps_xmpp_types_and_carries_startalk_ones() -> None:
    assert stanzas.split_type("groupchat") == ("groupchat", None)
    assert stanzas.split_type("readmark") == ("chat", "readmark")


@pytest.mark.parametrize("fields", [
    StartalkFields(),
    StartalkFields(msg_type="1", extend_info="", body_id="b1", msec_times="42"),
    StartalkFields(msg_type="1", ma_type="6", extend_info="x", body_id="b1",
                   startalk_type="revoke", msec_times="42", carbon=True),
    StartalkFields(ma_type="6", startalk_type="readmark", carbon=True),
    StartalkFields(msec_times=""),
    StartalkFields(extend_info="a'b", body_id="b<1"),  # escaped: both take the reference path
])
def test_plain_values_take_the_fast_path_to_the_same_bytes(fields: StartalkFields) -> None:
    """build_message writes plain values by template; the escaping path is the reference."""
    fast = stanzas.build_message(ALICE, BOB, stanza_id="m1", msg_type="chat", body="hi",
                                 fields=fields)
    reference = stanzas._built_message(ALICE, BOB, "m1", "chat", "hi", fields)
    assert fast.data == reference.data
    assert stanzas.carrier_xml(fields) == \
        f"<qtalk xmlns='{stanzas.QTALK_NS}'{stanzas._attrs(fields.carrier_attributes())}/>"


@pytest.mark.parametrize(("fields", "carrier"), [
    (StartalkFields(msg_type="1", ma_type="6", extend_info="e", body_id="b1",
                    startalk_type="revoke", msec_times="42", carbon=True),
     "<qtalk xmlns='urn:qtalk:message' msgType='1' maType='6' extendInfo='e' id='b1'"
     " type='revoke' msec_times='42' carbon='true'/>"),
    (StartalkFields(msg_type="1", extend_info="", body_id="b1"),
     "<qtalk xmlns='urn:qtalk:message' msgType='1' extendInfo='' id='b1'/>"),
    (StartalkFields(msg_type="1", extend_info="a'b", msec_times="42"),
     "<qtalk xmlns='urn:qtalk:message' msgType='1' extendInfo='a&apos;b' msec_times='42'/>"),
    (StartalkFields(), "<qtalk xmlns='urn:qtalk:message'/>"),
])
def test_carrier_golden(fields: StartalkFields, carrier: str) -> None:
    assert stanzas.carrier_xml(fields) == carrier
