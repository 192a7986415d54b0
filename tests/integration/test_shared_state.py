"""Two daemons sharing their state in a real redis-server ([shared] redis_url): on one ejabberd
that balances the component domain over both links, and beside the two nodes of an ejabberd
cluster (devenv/ejabberd_cluster.py). Whatever one daemon did, the other knows. Then Redis
stops and starts again under them."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from component.jid import Jid
from devenv.ejabberd import EjabberdServer
from devenv.ejabberd_cluster import EjabberdCluster
from devenv.redis import RedisServer
from tests.integration.conftest import (
    SECOND_HOST,
    RunningDaemon,
    daemon_config,
    require_server,
    running_daemon,
)
from tests.integration.xmpp_client import XmppClient

Reply = tuple[int, Any, dict[str, str]]


@dataclass
class Caller:
    """Calls to the daemons, one by one, through one HTTP session."""

    session: aiohttp.ClientSession

    async def call(self, daemon: RunningDaemon, path: str, body: Any = None, *,
                   headers: dict[str, str] | None = None) -> Reply:
        data = b"" if body is None else orjson.dumps(body)
        async with self.session.post(daemon.url + path, data=data, headers=headers) as r:
            return r.status, orjson.loads(await r.read()), dict(r.headers)

    async def readiness(self, daemon: RunningDaemon) -> tuple[int, dict[str, bool]]:
        url = daemon.url.removesuffix("qtalk/") + "readyz"
        async with self.session.get(url) as r:
            return r.status, orjson.loads(await r.read())["data"]


@dataclass
class Pair(Caller):
    server: EjabberdServer  # beside A; accounts registered on it are known to B's too
    a: RunningDaemon
    b: RunningDaemon
    server_b: EjabberdServer  # beside B: the same server, or the cluster's other node


@pytest.fixture(scope="module", params=["one node", "two-node cluster"])
def servers(request: pytest.FixtureRequest) -> Iterator[tuple[EjabberdServer, EjabberdServer]]:
    """The ejabberd beside daemon A and the one beside daemon B: one node balancing the
    component domain over both links, or two nodes of one Mnesia cluster, one link each."""
    require_server("ejabberd")
    if request.param == "one node":
        with EjabberdServer(component_connections=2, extra_hosts=(SECOND_HOST,)) as server:
            yield server, server
    else:
        with EjabberdCluster(2, extra_hosts=(SECOND_HOST,)) as cluster:
            yield cluster.nodes[0], cluster.nodes[1]


@pytest_asyncio.fixture(scope="module")
async def pair(servers: tuple[EjabberdServer, EjabberdServer], redis_server: RedisServer,
               tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pair]:
    db = 3 if servers[0] is servers[1] else 4  # each topology starts from an empty Redis
    configs = [daemon_config(server, tmp_path_factory.mktemp(name) / "store.db",
                             xmpp={"balanced": True}, shared={"redis_url": redis_server.url(db)})
               for name, server in zip("ab", servers, strict=True)]
    async with running_daemon(configs[0]) as a, running_daemon(configs[1]) as b, \
            aiohttp.ClientSession() as session:
        yield Pair(session, servers[0], a, b, servers[1])


@pytest_asyncio.fixture
async def bob(pair: Pair) -> AsyncIterator[tuple[str, XmppClient]]:
    """A user online on B's node (on a cluster, A's messages cross to the other node)."""
    name = f"bob-{secrets.token_hex(3)}"
    pair.server.register(name, "pw-bob")
    jid = f"{name}@{pair.server.host}"
    client = await XmppClient.connect(pair.server_b.c2s_port, jid, "pw-bob")
    yield jid, client
    await client.close()


def third(to: str, message_id: str) -> dict[str, str]:
    host = to.partition("@")[2]
    return {"from": f"alice@{host}", "to": to,
            "message": f"<message type='chat'><body id='{message_id}'>hi</body></message>"}


async def copies(client: XmppClient, message_id: str, *, settle: float = 1.0) -> int:
    """How many times `message_id` reached the client (waiting for late duplicates)."""
    await asyncio.sleep(settle)
    return sum(m.get("id") == message_id for m in client.messages())


async def test_a_key_minted_through_a_passes_auth_uk_on_b(pair: Pair) -> None:
    minted = await pair.a.daemon.keys.mint(Jid.parse(f"carol@{pair.server.host}"))
    status, reply, _ = await pair.call(pair.b, f"auth_uk?u=carol&k={minted.key}")
    assert (status, reply["ret"]) == (200, True)
    status, reply, _ = await pair.call(pair.b, "auth_uk?u=carol&k=not-the-key")
    assert (status, reply["errcode"]) == (401, 1011)


async def test_add_host_through_a_is_served_by_b_at_once(
        pair: Pair, bob: tuple[str, XmppClient]) -> None:
    status, reply, _ = await pair.call(pair.a, "add_host", {"host": SECOND_HOST})
    assert (status, reply["ret"]) == (200, True)
    for _ in range(50):  # the channel's message is on its way while A answers
        if pair.b.daemon.hosts.is_served(SECOND_HOST):
            break
        await asyncio.sleep(0.01)
    pair.server.register("dave", "pw-dave", SECOND_HOST, exist_ok=True)
    dave = await XmppClient.connect(pair.server.c2s_port, f"dave@{SECOND_HOST}", "pw-dave")
    try:
        message_id = f"to-second-{secrets.token_hex(3)}"
        status, reply, _ = await pair.call(pair.b, "send_thirdmessage",
                                           third(f"dave@{SECOND_HOST}", message_id))
        assert (status, reply["ret"]) == (200, True)
        assert await copies(dave, message_id, settle=0.3) == 1
    finally:
        await dave.close()


async def test_an_idempotency_key_retried_on_b_is_not_run_again(
        pair: Pair, bob: tuple[str, XmppClient]) -> None:
    jid, client = bob
    headers = {"Idempotency-Key": f"k-{secrets.token_hex(4)}"}
    body = third(jid, f"idem-{secrets.token_hex(3)}")
    first = await pair.call(pair.a, "send_thirdmessage", body, headers=headers)
    retried = await pair.call(pair.b, "send_thirdmessage", body, headers=headers)
    assert first[0] == retried[0] == 200
    assert retried[1] == first[1]
    assert retried[2].get("Idempotent-Replayed") == "true"
    assert await copies(client, body["message"].split("'")[3]) == 1


async def test_a_caller_message_id_retried_on_b_is_a_duplicate(
        pair: Pair, bob: tuple[str, XmppClient]) -> None:
    jid, client = bob
    message_id = f"id-{secrets.token_hex(3)}"
    status, first, _ = await pair.call(pair.a, "send_thirdmessage", third(jid, message_id))
    assert (status, first["data"].get("duplicate")) == (200, None)
    status, retried, _ = await pair.call(pair.b, "send_thirdmessage", third(jid, message_id))
    assert (status, retried["data"]) == (200, {"id": message_id, "status": "accepted",
                                                "duplicate": True})
    assert await copies(client, message_id) == 1


async def test_redis_stopped_and_started_again(
        pair: Pair, redis_server: RedisServer, bob: tuple[str, XmppClient]) -> None:
    jid, client = bob
    minted = await pair.a.daemon.keys.mint(Jid.parse(f"erin@{pair.server.host}"))
    redis_server.stop()
    try:
        assert await pair.readiness(pair.a) == (200, {"link": True, "store": True,
                                                      "shared": False})
        status, reply, headers = await pair.call(pair.b, f"auth_uk?u=erin&k={minted.key}")
        assert (status, reply["errcode"]) == (503, 2007)
        assert "Retry-After" in headers
        status, reply, _ = await pair.call(pair.a, "send_thirdmessage", third(jid, "plain"),
                                           headers={"Idempotency-Key": "during-outage"})
        assert (status, reply["errcode"]) == (503, 2007)
        # Injection that needs neither an Idempotency-Key nor a caller id goes on.
        body = {"From": "alice", "To": [{"User": jid.partition("@")[0]}],
                "Body": "no id, no key"}
        status, reply, _ = await pair.call(pair.b, "send_message", body)
        assert (status, reply["ret"]) == (200, True), reply
    finally:
        redis_server.start()
    await recovered(pair, pair.b)
    status, reply, _ = await pair.call(pair.b, f"auth_uk?u=erin&k={minted.key}")
    assert status == 200  # kept by Redis across its restart (append-only file)
    assert (await pair.readiness(pair.a))[1]["shared"] is True
    assert any(m.findtext("{jabber:client}body") == "no id, no key" for m in client.messages())


async def recovered(pair: Caller, daemon: RunningDaemon, timeout: float = 10.0) -> None:
    """Poll until the daemon reaches Redis again (no restart of anything)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        with contextlib.suppress(aiohttp.ClientError):
            if (await pair.readiness(daemon))[1].get("shared"):
                return
        await asyncio.sleep(0.1)
    raise TimeoutError("the daemon did not reach Redis again")
