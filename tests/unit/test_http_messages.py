"""The message endpoints through aiohttp's test client, with a recording sink at the port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from lxml import etree

from component.errors import LinkDown
from component.services.messages import ChatRequest, MessageService
from tests.unit.fakes import HOST, MUC, RecordingSink, hosts
from tests.unit.http_apps import ApiClient, client_for, make_config, message_app

Client = Callable[..., Any]


def build_client(sink: RecordingSink, **http: Any) -> ApiClient:
    return client_for(message_app(make_config(http=http), sink))


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def client(sink: RecordingSink) -> AsyncIterator[ApiClient]:
    async with build_client(sink) as test_client:
        yield test_client


async def post(client: ApiClient, path: str, body: Any) -> tuple[int, Any]:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    response = await client.post(f"/qtalk/{path}", data=raw)
    return response.status, orjson.loads(await response.read())


def xml(sink: RecordingSink, index: int = 0) -> etree._Element:
    return etree.fromstring(sink.sent[index].data)


def third(message: str, **extra: str) -> dict[str, str]:
    return {"from": f"alice@{HOST}", "to": f"bob@{HOST}", "message": message, **extra}


async def test_thirdmessage_single(client: ApiClient, sink: RecordingSink) -> None:
    status, reply = await post(client, "send_thirdmessage",
                               third("<message type='chat'><body>hi</body></message>"))
    assert status == 200
    assert reply["ret"] is True
    assert reply["errcode"] == 0
    assert reply["data"]["status"] == "routed"
    assert xml(sink).get("id") == reply["data"]["id"]
    assert [s.recipient.local for s in sink.sent] == ["bob", "alice"]  # message, then carbon


async def test_thirdmessage_array_reports_per_item(client: ApiClient,
                                                   sink: RecordingSink) -> None:
    status, reply = await post(client, "send_thirdmessage", [
        third("<message type='headline'><body>1</body></message>"),
        third("<iq type='get'/>"),
        {"from": "alice@evil.org", "to": f"bob@{HOST}", "message": "<message/>"},
        "not an object",
        third("<message type='headline'><body>2</body></message>"),
    ])
    assert status == 207
    assert reply["ret"] is False
    items = reply["data"]["items"]
    assert [i["ok"] for i in items] == [True, False, False, False, True]
    assert items[1]["errcode"] == 1003
    assert items[2]["errcode"] == 1004
    assert items[3]["errcode"] == 1001
    assert [xml(sink, i).findtext("body") for i in range(2)] == ["1", "2"]


async def test_thirdmessage_all_refused_sends_nothing(client: ApiClient,
                                                      sink: RecordingSink) -> None:
    status, reply = await post(client, "send_thirdmessage", [third("<presence/>")])
    assert status == 400
    assert reply["errcode"] == 1003
    assert sink.sent == []


@pytest.mark.parametrize(("body", "errcode"), [
    (third("<message/>", **{"from": "alice@conference.qtalk.test.org"}), 1010),
    (third("<message/>", to="bob@evil.org"), 1004),
    (third("<message/>", to="not a jid"), 1002),
    ({"from": f"alice@{HOST}", "to": f"bob@{HOST}"}, 1002),
    ({"from": 5, "to": f"bob@{HOST}", "message": "<message/>"}, 1002),
    (third("<message><body>" + "x" * 5000 + "</body></message>"), 1005),
])
async def test_thirdmessage_refusals(client: ApiClient, sink: RecordingSink,
                                     body: Any, errcode: int) -> None:
    status, reply = await post(client, "send_thirdmessage", body)
    assert reply["errcode"] == errcode
    assert status in (400, 413, 501)
    assert sink.sent == []


async def test_send_xml_works_and_says_it_is_deprecated(client: ApiClient,
                                                        sink: RecordingSink) -> None:
    status, reply = await post(client, "send_xml", [third("<message><body>x</body></message>")])
    assert status == 200
    assert "deprecated" in reply["errmsg"]
    assert len(sink.sent) == 2


async def test_send_message_shape(client: ApiClient, sink: RecordingSink) -> None:
    status, reply = await post(client, "send_message", {
        "From": "alice", "To": [{"User": "bob"}, {"User": "carol"}], "Body": "hello",
        "Extend_Info": "ext", "Host": HOST})
    assert status == 200
    assert reply["ret"] is True
    messages = [xml(sink, i) for i in (0, 2)]
    assert [m.get("to") for m in messages] == [f"bob@{HOST}", f"carol@{HOST}"]
    body = messages[0].find("body")
    assert body is not None
    assert body.get("msgType") == "1"
    assert body.get("extendInfo") == "ext"
    assert body.get("id", "").startswith("http")
    carrier = messages[0].find("{urn:qtalk:message}qtalk")
    assert carrier is not None
    assert carrier.get("id") == body.get("id")
    assert messages[0].get("msec_times")


async def test_send_message_bad_recipients_are_reported(client: ApiClient,
                                                        sink: RecordingSink) -> None:
    status, reply = await post(client, "send_message", {
        "From": "alice", "To": [{"User": "bob"}, {"Nope": 1}, {"User": "a b"}], "Body": "x"})
    assert status == 207
    assert [i["ok"] for i in reply["data"]["items"]] == [True, False, False]
    assert len(sink.sent) == 2


@pytest.mark.parametrize(("body", "status"), [
    ({"From": "alice", "To": [{"User": "bob"}]}, 400),
    ({"From": "alice", "To": "bob", "Body": "x"}, 400),
    ({"From": "alice", "To": [{"User": "bob"}] * 6, "Body": "x"}, 413),
    ({"From": "alice", "To": [{"User": "bob"}], "Body": "x", "Type": "groupchat"}, 501),
    ({"From": "alice", "To": [{"User": "bob"}], "Body": "x", "Host": "evil.org"}, 400),
    ({"From": ["alice"], "To": [{"User": "bob"}], "Body": "x"}, 400),
    ({"From": "alice", "To": [{"User": "bob"}], "Body": "bell\x07"}, 400),
])
async def test_send_message_refusals(client: ApiClient, sink: RecordingSink,
                                     body: Any, status: int) -> None:
    got, reply = await post(client, "send_message", body)
    assert (got, reply["ret"]) == (status, False)
    assert sink.sent == []


@pytest.mark.parametrize(("sender", "status", "errmsg"), [
    ("room/x", 400, "From: 'room/x@qtalk.test.org' is not a user JID"),
    (f"a@{MUC}", 501, "From: rooms are addressed through the rooms endpoints"),
    ("x@other.org", 400, "From: domain other.org is not served by this API"),
    ("a b", 400, "From: 'a b@qtalk.test.org' is not a valid JID: invalid address "
                 "'a b@qtalk.test.org': character ' ' is not allowed in a localpart"),
    ("@x", 400, "From: '@x' is not a valid JID: empty localpart"),
])
async def test_send_message_sender_refusals(client: ApiClient, sink: RecordingSink,
                                            sender: str, status: int, errmsg: str) -> None:
    """The handler parses `From` once for its own checks; the service still says what is
    wrong with a sender that is no served user."""
    got, reply = await post(client, "send_message",
                            {"From": sender, "To": [{"User": "bob"}], "Body": "x"})
    assert (got, reply["errmsg"]) == (status, errmsg)
    assert sink.sent == []


async def test_send_notify(client: ApiClient, sink: RecordingSink) -> None:
    status, reply = await post(client, "send_notify", {
        "from": f"alice@{HOST}", "to": [f"bob@{HOST}", f"carol@{HOST}"], "category": "7",
        "data": "{\"x\":1}"})
    assert status == 200
    assert reply["ret"] is True
    notify = xml(sink).find("{jabber:x:presence_notify}notify")
    assert notify is not None
    assert (notify.get("category"), notify.get("data")) == ("7", "{\"x\":1}")
    assert xml(sink).get("type") == "headline"


@pytest.mark.parametrize(("raw", "errcode", "status"), [
    (b"", 1001, 400), (b"{not json", 1001, 400), (b"[" * 100 + b"]" * 100, 1001, 400),
    (b"\"a string\"", 1001, 400), (b"x" * 30000, 1005, 413),
])
async def test_bad_bodies(client: ApiClient, raw: bytes, errcode: int,
                          status: int) -> None:
    for path in ("send_message", "send_notify", "send_thirdmessage"):
        got, reply = await post(client, path, raw)
        assert (got, reply["errcode"]) == (status, errcode)


async def test_unknown_path_and_method(client: ApiClient) -> None:
    response = await client.get("/qtalk/send_message")
    assert response.status == 405
    assert response.headers["Allow"] == "OPTIONS, POST"
    assert (await response.json())["errcode"] == 1007
    response = await client.post("/qtalk/nothing_here")
    assert response.status == 404
    assert (await response.json())["errmsg"].startswith("request not defined")
    response = await client.post("/qtalk/send_message/", data=b"{}")
    assert response.status == 400  # the trailing slash is the same endpoint
    response = await client.post("/healthz")  # refused by aiohttp's router, not our guard
    assert (response.status, response.headers["Allow"]) == (405, "GET, HEAD, OPTIONS")
    assert (await response.json())["errcode"] == 1007


async def test_link_down_is_503_and_always_200_switch() -> None:
    sink = RecordingSink(failure=LinkDown("the component link is down"))
    async with build_client(sink) as client:
        status, reply = await post(client, "send_thirdmessage", third("<message/>"))
        assert (status, reply["errcode"]) == (503, 2001)
    async with build_client(sink, always_200=True) as client:
        status, reply = await post(client, "send_thirdmessage", third("<message/>"))
        assert (status, reply["ret"], reply["errcode"]) == (200, False, 2001)


async def test_carbons_can_be_switched_off(sink: RecordingSink) -> None:
    service = MessageService(sink, hosts(), max_stanza_bytes=65536, carbons=False)
    result = await service.send_chat(ChatRequest("alice", ("bob", "carol"), "hi"))
    assert result.status == "routed"
    assert [s.recipient.local for s in sink.sent] == ["bob", "carol"]  # no copies to alice


@pytest.mark.parametrize("wait", ["\u0661", "\u00b2", "\uff11", "1_0", "nan", "inf", " 1"])
async def test_wait_takes_ascii_digits_only(client: ApiClient, wait: str) -> None:
    response = await client.post("/qtalk/send_thirdmessage", params={"wait": wait},
                                 data=orjson.dumps(third("<message/>")))
    reply = await response.json()
    assert (response.status, reply["errcode"]) == (400, 1002)
    assert reply["errmsg"].startswith("wait: ")
