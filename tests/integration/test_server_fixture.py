"""The real-server tier's own plumbing: the session server, unique users and the c2s client."""

from __future__ import annotations

import asyncio

from devenv.servers import XmppServer
from tests.integration.conftest import ClientFactory, UserFactory
from tests.integration.xmpp_client import next_id, tag

DELAY_NS = "urn:xmpp:delay"


async def test_chat_reaches_an_online_user(
    make_user: UserFactory, client_factory: ClientFactory
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    sender = await client_factory(*alice)
    receiver = await client_factory(*bob)

    sender.send(f"<message to='{bob.jid}' type='chat' id='{next_id()}'>"
                "<body>hello bob</body></message>")

    message = await receiver.wait_message(lambda m: m.findtext(tag("body")) == "hello bob")
    assert message.get("from") == sender.jid
    assert message.get("type") == "chat"


async def test_message_to_an_offline_user_arrives_at_next_login(
    xmpp_server: XmppServer, make_user: UserFactory, client_factory: ClientFactory
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    sender = await client_factory(*alice)

    sender.send(f"<message to='{bob.jid}' type='chat' id='{next_id()}'>"
                "<body>while you were out</body></message>")
    await _until_offline_count(xmpp_server, bob.user, 1)
    receiver = await client_factory(*bob)

    message = await receiver.wait_message(lambda m: m.findtext(tag("body")) == "while you were out")
    assert message.find(tag("delay", DELAY_NS)) is not None


async def test_vcard_seeded_through_the_api_is_served(
    xmpp_server: XmppServer, make_user: UserFactory, client_factory: ClientFactory
) -> None:
    carol, dave = make_user("carol"), make_user("dave")
    xmpp_server.set_vcard(carol.user, "FN", "Carol Example")
    client = await client_factory(*dave)

    reply = await client.request(f"<iq type='get' id='{next_id()}' to='{carol.jid}'>"
                                 "<vCard xmlns='vcard-temp'/></iq>")

    assert reply.get("type") == "result"
    assert reply.findtext("{vcard-temp}vCard/{vcard-temp}FN") == "Carol Example"


async def _until_offline_count(server: XmppServer, user: str, count: int) -> None:
    """Poll until the server has stored `count` offline messages for `user` (no fixed sleeps)."""
    for _ in range(500):
        if server.offline_count(user) == count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{user} never had {count} offline message(s)")
