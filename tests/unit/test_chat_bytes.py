"""send_message's stanzas byte for byte, whichever way the service builds them.

The ids and the clock differ per request: each message's id and its `msec_times` are put
back as ID and MS before comparing.
"""

from __future__ import annotations

import re

import pytest

from component.errors import ApiError
from component.services.messages import ChatRequest, MessageService
from tests.unit.fakes import RecordingSink, hosts

PLAIN = (
    "<message type='chat' id='ID' from='alice@qtalk.test.org' to='bob@qtalk.test.org'"
    " msec_times='MS'><body id='ID' msgType='1' extendInfo=''>hi there</body>"
    "<qtalk xmlns='urn:qtalk:message' msgType='1' extendInfo='' id='ID' msec_times='MS'/>"
    "</message>")
CARBON = (
    "<message type='chat' id='ID-carbon' from='alice@qtalk.test.org'"
    " to='alice@qtalk.test.org'><sent xmlns='urn:xmpp:carbons:2'>"
    "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'{inner}</forwarded>"
    "</sent><no-store xmlns='urn:xmpp:hints'/></message>")


def readable(data: bytes, stanza_id: str) -> str:
    text = data.decode().replace(stanza_id, "ID")
    return re.sub(r"msec_times='\d{13}'", "msec_times='MS'", text)


async def sent(request: ChatRequest, *, carbons: bool) -> list[str]:
    sink = RecordingSink()
    service = MessageService(sink, hosts(), max_stanza_bytes=65536, carbons=carbons)
    result = await service.send_chat(request)
    ids = [item.id for item in result.items]
    assert all(item.error is None for item in result.items)
    assert all(stanza.id.removesuffix("-carbon") in ids for stanza in sink.sent)
    return [readable(stanza.data, stanza.id.removesuffix("-carbon")) for stanza in sink.sent]


async def test_a_plain_message_and_its_carbon() -> None:
    stanzas = await sent(ChatRequest("alice", ("bob",), "hi there"), carbons=True)
    assert stanzas == [PLAIN, CARBON.format(inner=PLAIN.removeprefix("<message"))]


async def test_each_recipient_has_its_own_id_and_the_same_clock() -> None:
    sink = RecordingSink()
    service = MessageService(sink, hosts(), max_stanza_bytes=65536, carbons=False)
    result = await service.send_chat(ChatRequest("alice", ("bob", "carol"), "hi there"))
    first, second = (item.id for item in result.items)
    assert first is not None
    assert second is not None
    assert first != second
    assert [stanza.id for stanza in sink.sent] == [first, second]
    times = {re.findall(rb"msec_times='(\d+)'", stanza.data)[0] for stanza in sink.sent}
    assert len(times) == 1
    assert readable(sink.sent[1].data, second) == PLAIN.replace("bob@", "carol@")


async def test_escaped_values_and_a_startalk_type() -> None:
    request = ChatRequest("alice", ("bob@qtalk.test.org/p'c",), "a<b & 'c'\r\n",
                          msg_type="revoke", startalk_msg_type="1'", extend_info='{"k":"<v>"}')
    stanzas = await sent(request, carbons=False)
    assert stanzas == [
        "<message type='chat' id='ID' from='alice@qtalk.test.org'"
        " to='bob@qtalk.test.org/p&apos;c' msec_times='MS'><body id='ID' msgType='1&apos;'"
        " extendInfo='{&quot;k&quot;:&quot;&lt;v&gt;&quot;}'>a&lt;b &amp; 'c'&#13;\n</body>"
        "<qtalk xmlns='urn:qtalk:message' msgType='1&apos;'"
        " extendInfo='{&quot;k&quot;:&quot;&lt;v&gt;&quot;}' id='ID' type='revoke'"
        " msec_times='MS'/></message>"]


@pytest.mark.parametrize(("change", "refusal"), [
    ({"body": "x\x00"}, "Body: character U+0000 is not allowed in XML"),
    ({"extend_info": "\x07"}, "extendInfo: character U+0007 is not allowed in XML"),
    ({"startalk_msg_type": "\x1b"}, "msgType: character U+001B is not allowed in XML"),
    ({"msg_type": "\x01"}, "type: character U+0001 is not allowed in XML"),
    ({"msg_type": "re\x01", "body": "\x02"}, "Body: character U+0002 is not allowed in XML"),
    ({"recipients": ("bob", "nobody@elsewhere.org"), "body": "\x02"},
     "Body: character U+0002 is not allowed in XML"),
])
async def test_each_item_reports_the_first_value_refused(change: dict[str, object],
                                                         refusal: str) -> None:
    values: dict[str, object] = {"sender": "alice", "recipients": ("bob",), "body": "hi"}
    sink = RecordingSink()
    service = MessageService(sink, hosts(), max_stanza_bytes=65536)
    result = await service.send_chat(ChatRequest(**(values | change)))  # type: ignore[arg-type]
    assert sink.sent == []
    first = result.items[0].error
    assert isinstance(first, ApiError)
    assert first.message == refusal
    for item in result.items[1:]:
        assert item.error is not None
