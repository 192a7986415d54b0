"""The component link against a scripted XEP-0114 server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from lxml import etree

from component.config import XmppConfig
from component.errors import BadRequest, DomainNotServed, LinkDown, XmppTimeout
from component.jid import Jid
from component.xmpp import stanzas
from component.xmpp.dispatch import Dispatcher, Identity
from component.xmpp.link import ComponentLink, LinkState, check_outbound
from component.xmpp.stanza_values import Stanza
from component.xmpp.stanzas import StartalkFields
from tests.unit.fake_server import FakeComponentServer

ALICE = Jid.parse("alice@qtalk.test.org")
BOB = Jid.parse("bob@qtalk.test.org")


def make_link(port: int, secret: str = "s3cret", **timing: float) -> ComponentLink:
    config = XmppConfig(server="127.0.0.1", port=port, domain="api.qtalk.test.org",
                        secret=secret, hosts=("qtalk.test.org",),
                        muc_domain="conference.qtalk.test.org",
                        ping_interval=timing.get("ping_interval", 30.0),
                        iq_timeout=timing.get("iq_timeout", 1.0), reconnect_max_delay=0.3)
    holder: list[Dispatcher] = []
    link = ComponentLink(config, max_stanza_bytes=65536,
                         is_served_host=lambda d: d == "qtalk.test.org",
                         on_stanza=lambda s: holder[0](s))
    holder.append(Dispatcher(link.jid, link.send, Identity("component", "generic", "test")))
    return link


@pytest.fixture
async def server() -> AsyncIterator[FakeComponentServer]:
    fake = FakeComponentServer()
    await fake.start()
    yield fake
    await fake.close()


async def running(link: ComponentLink) -> ComponentLink:
    link.start()
    await asyncio.wait_for(link.up.wait(), 5)
    return link


def message(n: int) -> Stanza:
    return stanzas.build_message(ALICE, BOB, stanza_id=f"m{n}", msg_type="chat", body=str(n),
                                 fields=StartalkFields())


async def test_messages_are_coalesced_in_order_and_acknowledged(
        server: FakeComponentServer) -> None:
    link = await running(make_link(await _port(server)))
    for n in range(50):
        link.send(message(n))
    await asyncio.wait_for(link.barrier(), 2)
    bodies = [e.findtext("{jabber:component:accept}body") for e in server.received[:50]]
    assert bodies == [str(n) for n in range(50)]
    assert server.received[50].find("{urn:xmpp:ping}ping") is not None
    await link.stop()
    assert server.raw.endswith(b"</stream:stream>")
    assert link.state is LinkState.STOPPED


async def test_reconnects_after_a_drop_and_fails_pending_requests(
        server: FakeComponentServer) -> None:
    server.answer_pings = False
    link = await running(make_link(await _port(server)))
    ping = stanzas.build_ping(link.jid, link.server, stanza_id=link.new_id())
    request = asyncio.create_task(link.request(ping, timeout=5))
    await server.wait_for(1)
    server.drop_all()
    with pytest.raises(LinkDown):
        await request
    with pytest.raises(LinkDown):
        link.send(message(1))
    await server.wait_connections(2)
    await asyncio.wait_for(link.up.wait(), 2)
    link.send(message(2))
    await server.wait_for(2)
    assert link.reconnects >= 1
    await link.stop()


async def test_request_times_out(server: FakeComponentServer) -> None:
    server.answer_pings = False
    link = await running(make_link(await _port(server)))
    with pytest.raises(XmppTimeout):
        await link.request(stanzas.build_ping(link.jid, link.server, stanza_id="t1"),
                           timeout=0.2)
    await link.stop()


async def test_wrong_secret_keeps_retrying_without_going_up(
        server: FakeComponentServer) -> None:
    link = make_link(await _port(server), secret="wrong")
    link.start()
    for _ in range(500):  # until it has retried twice (a busy machine may be slow)
        if link.reconnects >= 2:
            break
        await asyncio.sleep(0.01)
    assert not link.up.is_set()
    assert link.reconnects >= 2
    await link.stop()


async def test_dead_link_is_detected_by_keepalive(server: FakeComponentServer) -> None:
    server.answer_pings = False
    link = await running(make_link(await _port(server), ping_interval=0.1, iq_timeout=0.2))
    await server.wait_connections(2, timeout=5)
    await link.stop()


async def test_answers_disco_info_and_ping_and_refuses_the_rest(
        server: FakeComponentServer) -> None:
    link = await running(make_link(await _port(server)))
    server.send("<iq type='get' id='d1' from='qtalk.test.org' to='api.qtalk.test.org'>"
                "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
                "<iq type='get' id='p1' from='alice@qtalk.test.org/pc' to='api.qtalk.test.org'>"
                "<ping xmlns='urn:xmpp:ping'/></iq>"
                "<iq type='set' id='x1' from='alice@qtalk.test.org/pc' to='api.qtalk.test.org'>"
                "<query xmlns='jabber:iq:roster'/></iq>")
    await server.wait_for(3)
    replies = {e.get("id"): e for e in server.received}
    features = [f.get("var") for f in replies["d1"].iter(
        "{http://jabber.org/protocol/disco#info}feature")]
    assert "urn:xmpp:ping" in features
    assert replies["p1"].get("type") == "result"
    assert replies["p1"].get("to") == "alice@qtalk.test.org/pc"
    assert replies["x1"].get("type") == "error"
    assert replies["x1"].find(".//{urn:ietf:params:xml:ns:xmpp-stanzas}service-unavailable") \
        is not None
    await link.stop()


async def test_outbound_checks(server: FakeComponentServer) -> None:
    link = await running(make_link(await _port(server)))
    with pytest.raises(DomainNotServed):
        link.send(stanzas.build_message(Jid.parse("eve@evil.org"), BOB, stanza_id="e",
                                        msg_type="chat", body="x", fields=StartalkFields()))
    with pytest.raises(BadRequest):
        link.send(stanzas.build_ping(ALICE, BOB, stanza_id="spoofed-iq"))
    link.send(message(7))
    await asyncio.wait_for(link.barrier(), 2)
    assert [etree.QName(e).localname for e in server.received] == ["message", "iq"]
    await link.stop()


def test_check_outbound_refuses_what_would_close_the_stream() -> None:
    own = Jid.parse("api.qtalk.test.org")

    def check(stanza: Stanza) -> None:
        check_outbound(stanza, own, lambda domain: domain == "qtalk.test.org")

    check(message(1))
    check(stanzas.build_ping(own, BOB, stanza_id="own-iq"))
    refused = {
        "an iq from a user": stanzas.build_ping(ALICE, BOB, stanza_id="i1"),
        "an iq from a resource of the component": stanzas.build_ping(
            Jid.parse("x@api.qtalk.test.org"), BOB, stanza_id="i2"),
        "a message whose bytes are not a message": Stanza(
            "message", "m2", ALICE, BOB, b"<iq type='get'/>"),
    }
    for stanza in refused.values():
        with pytest.raises(BadRequest):
            check(stanza)
    with pytest.raises(DomainNotServed):
        check(Stanza("message", "m3", Jid.parse("eve@evil.org"), BOB, message(3).data))


async def _port(server: FakeComponentServer) -> int:
    assert server._server is not None
    return int(server._server.sockets[0].getsockname()[1])


async def test_a_stop_during_the_handshake_never_brings_the_link_up(
        server: FakeComponentServer) -> None:
    server.handshake_gate.clear()
    link = make_link(await server.start())
    went_up: list[bool] = []
    link.on_up(lambda: went_up.append(True))
    link.start()
    while b"<handshake" not in server.raw:  # noqa: ASYNC110  # the handshake is on its way
        await asyncio.sleep(0.01)
    stopping = asyncio.create_task(link.stop(timeout=2.0))
    await asyncio.sleep(0.05)
    server.handshake_gate.set()  # the server accepts it while the link is stopping
    await stopping
    assert (link.state, link.up.is_set(), went_up) == (LinkState.STOPPED, False, [])
