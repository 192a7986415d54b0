"""Message injection against a real server, checked by real c2s clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from lxml import etree

from devenv.servers import XmppServer
from tests.integration.conftest import Api, ClientFactory, RunningDaemon, UserFactory
from tests.integration.xmpp_client import tag

QTALK = "{urn:qtalk:message}qtalk"
NOTIFY = "{jabber:x:presence_notify}notify"


def carrier(message: etree._Element) -> dict[str, str]:
    element = message.find(QTALK)
    assert element is not None, etree.tostring(message)
    return dict(element.attrib)


def has_id(stanza_id: str) -> Callable[[etree._Element], bool]:
    return lambda element: element.get("id") == stanza_id


def body_of(message: etree._Element) -> str | None:
    return message.findtext(tag("body"))


async def test_send_message_to_an_online_user_with_carbon_to_the_sender(
        api: Api, make_user: UserFactory, client_factory: ClientFactory) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    bob_client = await client_factory(*bob)
    alice_client = await client_factory(*alice)
    status, reply = await api("send_message", {
        "From": alice.user, "To": [{"User": bob.user}], "Body": "hello <bob> & 你好",
        "Msg_Type": "7", "Extend_Info": "{\"card\":1}"})
    assert (status, reply["ret"], reply["data"]["status"]) == (200, True, "accepted")
    message_id = reply["data"]["items"][0]["id"]
    got = await bob_client.wait_message(lambda m: m.get("id") == message_id)
    assert body_of(got) == "hello <bob> & 你好"
    assert got.get("from", "").startswith(alice.jid)
    assert got.get("type") == "chat"
    assert carrier(got) | {"msec_times": "-"} == {
        "msgType": "7", "extendInfo": "{\"card\":1}", "id": message_id, "msec_times": "-"}
    carbon = await alice_client.wait_message(lambda m: m.find("{urn:xmpp:carbons:2}sent")
                                             is not None)
    forwarded = carbon.find(".//{jabber:client}message")
    assert forwarded is not None
    assert forwarded.get("to") == bob.jid


async def test_thirdmessage_keeps_startalk_fields_through_the_carrier(
        api: Api, make_user: UserFactory, client_factory: ClientFactory) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    bob_client = await client_factory(*bob)
    xml = ("<message type='revoke' msec_times='1700000000000'>"
           "<body id='watcher-42' msgType='-1' maType='20' extendInfo='{\"a\":\"b\"}'>"
           "[revoked]</body><x xmlns='urn:custom' a='b'>payload</x></message>")
    status, reply = await api("send_thirdmessage?wait=5",
                              {"from": alice.jid, "to": bob.jid, "message": xml})
    assert (status, reply["data"]) == (200, {"id": "watcher-42", "status": "routed"})
    got = await bob_client.wait_message(lambda m: m.get("id") == "watcher-42")
    assert carrier(got) == {"msgType": "-1", "maType": "20", "extendInfo": "{\"a\":\"b\"}",
                            "id": "watcher-42", "type": "revoke",
                            "msec_times": "1700000000000"}
    assert body_of(got) == "[revoked]"
    assert got.findtext("{urn:custom}x") == "payload"


async def test_message_to_an_offline_user_arrives_at_next_login(
        api: Api, make_user: UserFactory, client_factory: ClientFactory) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    # Waiting for the server's acknowledgement: the message is in bob's offline storage
    # before he logs in. Answered `accepted`, it could still be on its way while his session
    # opens: a race inside the server between routing and a session's start (seen once in
    # a full run, the message not delivered to that session), not what this test is about.
    status, reply = await api("send_thirdmessage?wait=5", {
        "from": alice.jid, "to": bob.jid,
        "message": "<message type='chat'><body msgType='1'>while you were out</body></message>"})
    assert (status, reply["data"]["status"]) == (200, "routed")
    bob_client = await client_factory(*bob)
    got = await bob_client.wait_message(lambda m: m.get("id") == reply["data"]["id"])
    assert body_of(got) == "while you were out"
    assert got.find("{urn:xmpp:delay}delay") is not None
    assert carrier(got)["msgType"] == "1"


async def test_arrays_and_several_recipients(api: Api, make_user: UserFactory,
                                             client_factory: ClientFactory) -> None:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    clients = {who.jid: await client_factory(*who) for who in (bob, carol)}
    items = [{"from": alice.jid, "to": to.jid,
              "message": f"<message type='chat'><body>n{n}</body></message>"}
             for n, to in enumerate([bob, carol, bob])]
    status, reply = await api("send_thirdmessage", items)
    assert (status, [i["ok"] for i in reply["data"]["items"]]) == (200, [True] * 3)
    for item in reply["data"]["items"]:
        got = await clients[item["to"]].wait_message(has_id(item["id"]))
        assert body_of(got) == f"n{item['index']}"
    status, reply = await api("send_message", {
        "From": alice.user, "To": [{"User": bob.user}, {"User": carol.user}], "Body": "all"})
    assert status == 200
    for item in reply["data"]["items"]:
        got = await clients[f"{item['to']}@{alice.jid.split('@')[1]}"].wait_message(
            has_id(item["id"]))
        assert body_of(got) == "all"


async def test_send_notify_reaches_every_online_recipient(
        api: Api, make_user: UserFactory, client_factory: ClientFactory) -> None:
    admin, bob, carol = make_user("hr"), make_user("bob"), make_user("carol")
    clients = [await client_factory(*who) for who in (bob, carol)]
    status, reply = await api("send_notify", {"from": admin.jid, "to": [bob.jid, carol.jid],
                                              "category": "7", "data": "{\"push\":1}"})
    assert (status, reply["ret"]) == (200, True)
    for client in clients:
        got = await client.wait_message(lambda m: m.find(NOTIFY) is not None)
        notify = got.find(NOTIFY)
        assert notify is not None
        assert (got.get("type"), notify.get("category"), notify.get("data")) == (
            "headline", "7", "{\"push\":1}")
    status, _ = await api("send_notify", {"from": admin.jid, "to": bob.jid, "category": "1",
                                          "data": ""})
    assert status == 200
    got = await clients[0].wait_message(lambda m: m.find(NOTIFY) is not None)
    assert got.find(NOTIFY).get("category") == "1"  # type: ignore[union-attr]


def refused_inputs(host: str) -> dict[str, tuple[str, Any]]:
    def third(message: str, **change: str) -> dict[str, str]:
        return {"from": f"alice@{host}", "to": "{bob}", "message": message, **change}

    return {
        "iq": ("send_thirdmessage", third("<iq type='set' id='x'><query xmlns='jabber:iq:roster'"
                                          "><item jid='evil@evil.org'/></query></iq>")),
        "presence": ("send_thirdmessage", third("<presence type='subscribed'/>")),
        "doctype": ("send_thirdmessage", third("<!DOCTYPE m><message><body>x</body></message>")),
        "entity": ("send_thirdmessage", third(
            "<!DOCTYPE m [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><message><body>&x;</body>"
            "</message>")),
        "two roots": ("send_thirdmessage", third("<message/><message/>")),
        "control char": ("send_thirdmessage", third("<message><body>a&#1;b</body></message>")),
        "foreign from": ("send_thirdmessage", third("<message><body>x</body></message>",
                                                    **{"from": "mallory@evil.example"})),
        "foreign to": ("send_thirdmessage", third("<message><body>x</body></message>",
                                                  to="bob@evil.example")),
        "too large": ("send_thirdmessage", third("<message><body>" + "x" * 70000
                                                 + "</body></message>")),
        "bad json": ("send_message", b"{\"From\": "),
        "control char in Body": ("send_message", {"From": "alice", "To": [{"User": "{bob}"}],
                                                  "Body": "bell\u0007"}),
        "no body": ("send_message", {"From": "alice", "To": [{"User": "{bob}"}]}),
        "notify bad to": ("send_notify", {"from": f"alice@{host}", "to": [5],
                                          "category": "7", "data": ""}),
    }


@pytest.mark.parametrize("case", list(refused_inputs("h")))
async def test_refused_input_then_a_good_message_still_arrives(
        case: str, api: Api, make_user: UserFactory, client_factory: ClientFactory,
        xmpp_server: XmppServer, daemon: RunningDaemon) -> None:
    bob = make_user("bob")
    bob_client = await client_factory(*bob)
    path, body = refused_inputs(xmpp_server.host)[case]
    if isinstance(body, dict):
        body = {k: v.replace("{bob}", bob.jid if k == "to" else bob.user)
                if isinstance(v, str) else v for k, v in body.items()}
        body = _fill_user(body, bob.user)
    reconnects = daemon.daemon.link.reconnects
    status, reply = await api(path, body)
    assert status in (400, 413), reply
    assert reply["ret"] is False
    assert reply["errcode"] >= 1000
    status, reply = await api("send_thirdmessage", {
        "from": f"alice@{xmpp_server.host}", "to": bob.jid,
        "message": "<message type='chat'><body>still here</body></message>"})
    assert status == 200
    got = await bob_client.wait_message(lambda m: m.get("id") == reply["data"]["id"])
    assert body_of(got) == "still here"
    assert daemon.daemon.link.reconnects == reconnects  # the link never dropped
    assert bob_client.messages_but_probes() == []  # nothing of the refused request arrived


def _fill_user(body: dict[str, Any], user: str) -> dict[str, Any]:
    to = body.get("To")
    if isinstance(to, list):
        body["To"] = [{"User": user}]
    return body


async def test_disco_info_and_ping_of_the_component(
        make_user: UserFactory, client_factory: ClientFactory, daemon: RunningDaemon,
        xmpp_server: XmppServer) -> None:
    client = await client_factory(*make_user("admin"))
    reply = await client.request(
        f"<iq type='get' id='d1' to='{xmpp_server.component_domain}'>"
        "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    assert reply.get("type") == "result"
    features = {f.get("var") for f in reply.iter(
        "{http://jabber.org/protocol/disco#info}feature")}
    assert "urn:xmpp:ping" in features
    reply = await client.request(f"<iq type='get' id='p1' to='{xmpp_server.component_domain}'>"
                                 "<ping xmlns='urn:xmpp:ping'/></iq>")
    assert reply.get("type") == "result"


async def test_server_restarted_under_the_daemon(
        api: Api, make_user: UserFactory, client_factory: ClientFactory,
        xmpp_server: XmppServer, daemon: RunningDaemon) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    await asyncio.to_thread(xmpp_server.stop)
    status, reply = await api("send_thirdmessage", {
        "from": alice.jid, "to": bob.jid,
        "message": "<message type='chat'><body>while the server was down</body></message>"})
    assert (status, reply["data"]["status"]) == (200, "queued")
    queued_id = reply["data"]["id"]
    started = time.monotonic()
    await asyncio.to_thread(xmpp_server.start)
    await daemon.ready()
    print(f"link back {time.monotonic() - started:.2f} s after {xmpp_server.kind} restarted")
    # Log in only once the replay was routed (stored offline for bob): a message routed
    # between a session's start and its initial presence is stored offline *after* that
    # presence emptied the store, and waits for the next login (an ejabberd race).
    while daemon.daemon.delivery.depth:  # noqa: ASYNC110 (a test polls a counter)
        await asyncio.sleep(0.02)
    bob_client = await client_factory(*bob)
    status, reply = await api("send_thirdmessage", {
        "from": alice.jid, "to": bob.jid,
        "message": "<message type='chat'><body>after the restart</body></message>"})
    assert (status, reply["data"]["status"]) == (200, "accepted")
    got = await bob_client.wait_message(has_id(reply["data"]["id"]))
    assert body_of(got) == "after the restart"
    queued = await bob_client.wait_message(has_id(queued_id))
    assert body_of(queued) == "while the server was down"
