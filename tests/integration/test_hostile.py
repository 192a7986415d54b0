"""Hostile input against a real daemon and a real server: refused alone, the link stays up.

The module has a server and a daemon of its own (`private_server`), so what the fuzzer
changes (a host added, rooms made) stays here.

Each attack is sent on its own; then a good message must still arrive at a real client, the
link must not have reconnected (ejabberd closes a component stream on one bad stanza, so a
bad request that got through would cost every caller), and nothing of the attack may have
arrived. Then a bounded hypothesis run sends random and hostile bodies to every endpoint the
daemon registers, and a good message must still arrive after it.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devenv.servers import XmppServer
from tests.integration.conftest import (
    Account,
    Api,
    ClientFactory,
    RunningDaemon,
    UserFactory,
    private_daemon,
    private_make_user,
    private_server,
)
from tests.integration.xmpp_client import XmppClient, tag
from tests.unit.strategies import BILLION_LAUGHS, bodies
from tests.unit.test_fuzz_http import check_envelope, routes_of

ONE_MIB = 1 << 20  # the default max_request_bytes; max_stanza_bytes is 64 KiB

HOSTILE_XML = {
    "billion laughs": BILLION_LAUGHS,
    "external entity": "<!DOCTYPE m [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
                       "<message><body>&x;</body></message>",
    "external parameter entity": "<!DOCTYPE m [<!ENTITY % p SYSTEM "
                                 "'http://127.0.0.1:9/evil.dtd'> %p;]><message/>",
    "external DTD": "<!DOCTYPE message SYSTEM 'http://127.0.0.1:9/evil.dtd'>"
                    "<message><body>x</body></message>",
    "DOCTYPE": "<!DOCTYPE message><message><body>x</body></message>",
    "comment": "<message><!-- hidden --><body>x</body></message>",
    "processing instruction": "<?evil run?><message><body>x</body></message>",
    "character reference U+0001": "<message><body>a&#1;b</body></message>",
    "raw U+0001": "<message><body>a\u0001b</body></message>",
    "non-character U+FFFE": "<message><body>a\ufffeb</body></message>",
    "5000 levels deep": "<message>" + "<x>" * 5000 + "</x>" * 5000 + "</message>",
    "iq": "<iq type='set' id='x'><query xmlns='jabber:iq:roster'>"
          "<item jid='mallory@evil.example'/></query></iq>",
    "presence": "<presence type='subscribed'/>",
    "stream close": "<message><body>x</body></message></stream:stream>",
    "stream error root": "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>"
                         "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
    "over max_stanza_bytes, under the request limit":
        "<message><body>" + "x" * (ONE_MIB - 4096) + "</body></message>",
}


# This module's own server and users (see private_server); client_factory follows them.
xmpp_server = private_server
make_user = private_make_user
daemon = private_daemon


async def good_message_arrives(api: Api, sender: str, bob: Account, bob_client: XmppClient,
                               text: str) -> None:
    status, reply = await api("send_thirdmessage", {
        "from": sender, "to": bob.jid,
        "message": f"<message type='chat'><body>{text}</body></message>"})
    assert status == 200, reply
    got = await bob_client.wait_message(lambda m: m.get("id") == reply["data"]["id"])
    assert got.findtext(tag("body")) == text


@pytest.mark.parametrize("case", list(HOSTILE_XML))
async def test_hostile_xml_is_refused_alone(
        case: str, api: Api, make_user: UserFactory, client_factory: ClientFactory,
        daemon: RunningDaemon) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    bob_client = await client_factory(*bob)
    reconnects = daemon.daemon.link.reconnects
    status, reply = await api("send_thirdmessage",
                              {"from": alice.jid, "to": bob.jid, "message": HOSTILE_XML[case]})
    assert (status, reply["ret"]) in ((400, False), (413, False)), reply
    assert reply["errcode"] in (1001, 1002, 1003, 1005), reply
    await good_message_arrives(api, alice.jid, bob, bob_client, "still here")
    assert bob_client.messages_but_probes() == []  # nothing of the attack arrived
    assert daemon.daemon.link.reconnects == reconnects


async def test_ten_megabytes_are_refused_before_parsing(
        api: Api, make_user: UserFactory, client_factory: ClientFactory,
        daemon: RunningDaemon) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    bob_client = await client_factory(*bob)
    reconnects = daemon.daemon.link.reconnects
    huge = orjson.dumps({"from": alice.jid, "to": bob.jid,
                         "message": "<message><body>" + "x" * (10 << 20) + "</body></message>"})
    status, reply = await api("send_thirdmessage", huge)
    assert (status, reply["errcode"]) == (413, 1005)
    assert "too large" in reply["errmsg"]
    await good_message_arrives(api, alice.jid, bob, bob_client, "after 10 MB")
    assert bob_client.messages_but_probes() == []
    assert daemon.daemon.link.reconnects == reconnects


@pytest.mark.parametrize("sender", ["mallory@evil.example", "mallory@conference.{host}",
                                    "{host}", "mallory@{host}@evil.example"])
async def test_a_foreign_or_malformed_from_is_refused(
        sender: str, api: Api, make_user: UserFactory, client_factory: ClientFactory,
        xmpp_server: XmppServer, daemon: RunningDaemon) -> None:
    bob = make_user("bob")
    bob_client = await client_factory(*bob)
    reconnects = daemon.daemon.link.reconnects
    status, reply = await api("send_thirdmessage", {
        "from": sender.format(host=xmpp_server.host), "to": bob.jid,
        "message": "<message><body>spoof</body></message>"})
    assert status in (400, 501), reply
    await good_message_arrives(api, f"alice@{xmpp_server.host}", bob, bob_client, "real one")
    assert bob_client.messages_but_probes() == []
    assert daemon.daemon.link.reconnects == reconnects


async def test_addresses_inside_the_xml_are_overridden(
        api: Api, make_user: UserFactory, client_factory: ClientFactory) -> None:
    """The original routed on the request's from/to; the XML's own are never trusted."""
    alice, bob = make_user("alice"), make_user("bob")
    bob_client = await client_factory(*bob)
    status, reply = await api("send_thirdmessage", {
        "from": alice.jid, "to": bob.jid,
        "message": "<message from='mallory@evil.example' to='victim@evil.example'>"
                   "<body>readdressed</body></message>"})
    assert status == 200, reply
    got = await bob_client.wait_message(lambda m: m.get("id") == reply["data"]["id"])
    assert got.get("from", "").startswith(alice.jid)
    assert got.findtext(tag("body")) == "readdressed"


async def test_markup_in_a_body_arrives_as_text(
        api: Api, make_user: UserFactory, client_factory: ClientFactory) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    bob_client = await client_factory(*bob)
    text = "</body></message><iq type='set' id='x'/><message><body>&amp;"
    status, reply = await api("send_message",
                              {"From": alice.user, "To": [{"User": bob.user}], "Body": text})
    assert status == 200, reply
    got = await bob_client.wait_message(
        lambda m: m.get("id") == reply["data"]["items"][0]["id"])
    assert got.findtext(tag("body")) == text


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_random_bodies_to_every_endpoint(
        daemon: RunningDaemon, http_session: aiohttp.ClientSession, xmpp_server: XmppServer,
        data: st.DataObject) -> None:
    route = data.draw(st.sampled_from(routes_of(daemon.daemon.pipeline)), label="route")
    method = data.draw(st.sampled_from(sorted(route.methods - {"HEAD"})), label="method")
    body = data.draw(bodies((xmpp_server.host,)), label="body")
    async with http_session.request(method, daemon.url + route.path, data=body) as response:
        what = f"{method} {route.path} {body[:300]!r} -> {response.status}"
        check_envelope(response.status, await response.read(), what)
    assert daemon.daemon.link.reconnects == 0, what


async def test_after_the_fuzz_a_good_message_arrives(
        daemon: RunningDaemon, http_session: aiohttp.ClientSession, make_user: UserFactory,
        client_factory: ClientFactory) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    bob_client = await client_factory(*bob)
    body: dict[str, Any] = {
        "from": alice.jid, "to": bob.jid,
        "message": "<message type='chat'><body>after the fuzz</body></message>"}
    async with http_session.post(daemon.url + "send_thirdmessage",
                                 data=orjson.dumps(body)) as response:
        reply = orjson.loads(await response.read())
    assert response.status == 200, reply
    got = await bob_client.wait_message(lambda m: m.get("id") == reply["data"]["id"])
    assert got.findtext(tag("body")) == "after the fuzz"
    assert daemon.daemon.link.reconnects == 0
