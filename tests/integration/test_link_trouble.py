"""What callers are told while the server is silent or the link is down (README, answers and
error codes; delivery): the documented statuses, a Retry-After on every 503, and an outbox
limit that counts messages.

Each test runs its own daemon behind a proxy that can cut the link or hold the server's
answers, on the module's own server (never a second daemon on the session's).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import orjson
import pytest_asyncio

from devenv.servers import XmppServer
from tests.integration.conftest import (
    ClientFactory,
    RunningDaemon,
    UserFactory,
    daemon_config,
    private_make_user,
    private_server,
    running_daemon,
)
from tests.integration.rooms_helpers import new_room
from tests.integration.tcp_proxy import CuttableProxy
from tests.integration.test_messages import has_id
from tests.integration.xmpp_client import tag

xmpp_server = private_server
make_user = private_make_user
IQ_TIMEOUT = 2.0
OUTBOX_MAX = 3


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    envelope: Any


class Proxied(NamedTuple):
    daemon: RunningDaemon
    proxy: CuttableProxy

    async def call(self, path: str, body: Any = None, *, method: str = "POST") -> Reply:
        """`path` after /qtalk/, or from the root when it starts with a slash."""
        url = self.daemon.url + path if not path.startswith("/") \
            else self.daemon.url.removesuffix("/qtalk/") + path
        async with aiohttp.ClientSession() as session, session.request(
                method, url, data=orjson.dumps(body) if body is not None else None) as response:
            return Reply(response.status, dict(response.headers),
                         orjson.loads(await response.read()))

    async def cut(self) -> None:
        await self.proxy.cut()
        deadline = time.monotonic() + 10
        while self.daemon.daemon.link.up.is_set():
            assert time.monotonic() < deadline, "the link did not notice the cut"
            await asyncio.sleep(0.05)


@pytest_asyncio.fixture
async def proxied(xmpp_server: XmppServer, tmp_path: Path) -> AsyncIterator[Proxied]:
    """A daemon whose link goes through a proxy: carbons on (the default), a short iq
    timeout, no ping before the test is over, room for OUTBOX_MAX messages."""
    proxy = CuttableProxy(xmpp_server.component_port)
    await proxy.start()
    config = daemon_config(xmpp_server, tmp_path / "store.db",
                           xmpp={"port": proxy.port, "iq_timeout": IQ_TIMEOUT,
                                 "ping_interval": 600},
                           delivery={"outbox_max": OUTBOX_MAX})
    try:
        async with running_daemon(config) as daemon:
            yield Proxied(daemon, proxy)
    finally:
        await proxy.close()


def errcode_of(reply: Reply) -> tuple[int, int]:
    return reply.status, reply.envelope["errcode"]


async def test_outbox_max_counts_messages_not_their_carbons(
        proxied: Proxied, make_user: UserFactory, client_factory: ClientFactory) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    alice_client, bob_client = await client_factory(*alice), await client_factory(*bob)
    await proxied.cut()
    sent = []
    for n in range(OUTBOX_MAX):  # each one a message and its carbon
        reply = await proxied.call("send_message", {"From": alice.user,
                                                    "To": [{"User": bob.user}],
                                                    "Body": f"kept {n}"})
        assert reply.status == 200, (n, reply.envelope)
        assert reply.envelope["data"]["status"] == "queued"
        sent.append(reply.envelope["data"]["items"][0]["id"])
    full = await proxied.call("send_message", {"From": alice.user, "To": [{"User": bob.user}],
                                               "Body": "one too many"})
    assert errcode_of(full) == (503, 2004)
    assert full.envelope["errmsg"] == (f"the outbox holds {OUTBOX_MAX} messages, its limit "
                                       f"is {OUTBOX_MAX}")
    assert int(full.headers["Retry-After"]) > 0
    await proxied.proxy.restore()
    for message_id in sent:  # every message kept arrives, and its carbon after it
        got = await bob_client.wait_message(has_id(message_id))
        assert (got.findtext(tag("body")) or "").startswith("kept")
    for _ in sent:
        await alice_client.wait_message(
            lambda m: m.find("{urn:xmpp:carbons:2}sent") is not None)


async def test_get_user_nick_answers_the_documented_statuses(
        proxied: Proxied, make_user: UserFactory, xmpp_server: XmppServer) -> None:
    silent, gone = make_user("silent"), make_user("gone")
    room = {"muc_id": new_room("unknown"), "muc_domain": xmpp_server.muc_domain}
    proxied.proxy.hold()  # the server is there but does not answer
    started = time.monotonic()
    reply = await proxied.call("get_user_nick", {"ID": silent.user})
    assert errcode_of(reply) == (504, 2002), reply  # README: the server did not answer in time
    assert time.monotonic() - started < IQ_TIMEOUT + 3
    assert errcode_of(await proxied.call("muc_users", room)) == (504, 2002)
    proxied.proxy.release()
    await proxied.cut()
    reply = await proxied.call("get_user_nick", {"ID": gone.user})
    assert errcode_of(reply) == (503, 2001), reply  # README: the link is down
    assert errcode_of(await proxied.call("muc_users", room)) == (503, 2001)


async def test_every_503_carries_retry_after(proxied: Proxied, make_user: UserFactory) -> None:
    owner, other = make_user("owner"), make_user("other")
    await proxied.cut()
    replies = {
        "get_user_nick": await proxied.call("get_user_nick", {"ID": other.user}),
        "create_muc": await proxied.call("create_muc", {"muc_id": new_room("down"),
                                                        "muc_owner": owner.user}),
        "readyz": await proxied.call("/readyz", method="GET"),
    }
    for endpoint, reply in replies.items():
        assert reply.status == 503, (endpoint, reply)
        assert int(reply.headers.get("Retry-After", "0")) > 0, (endpoint, reply.headers)
