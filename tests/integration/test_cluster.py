"""A real two-node ejabberd cluster (devenv/ejabberd_cluster.py): daemon A beside node 1,
daemon B beside node 2, both sharing Redis, a round-robin balancer in front. Messages from
either daemon reach users on either node; a node killed mid-burst loses nothing that was
answered. (Keys, add_host, Idempotency-Key, caller ids and Redis stopped and started again
run against this cluster too: test_shared_state.py's "two-node cluster".)"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import aiohttp
import pytest
import pytest_asyncio

from devenv.ejabberd_cluster import ClusterNode, EjabberdCluster
from devenv.redis import RedisServer
from tests.integration.balancer import RoundRobin
from tests.integration.conftest import (
    SECOND_HOST,
    RunningDaemon,
    daemon_config,
    require_server,
    running_daemon,
)
from tests.integration.test_shared_state import Caller, copies, third
from tests.integration.xmpp_client import XmppClient


@dataclass
class Deployment(Caller):
    cluster: EjabberdCluster
    a: RunningDaemon  # beside node 1
    b: RunningDaemon  # beside node 2
    balancer: RoundRobin

    async def user_on(self, node: ClusterNode, prefix: str) -> tuple[str, XmppClient]:
        """A new account (registered in the shared Mnesia), online on `node`."""
        name = f"{prefix}-{secrets.token_hex(3)}"
        self.cluster.register(name, f"pw-{name}")
        jid = f"{name}@{self.cluster.host}"
        return jid, await XmppClient.connect(node.c2s_port, jid, f"pw-{name}")


@pytest.fixture(scope="module")
def cluster() -> Iterator[EjabberdCluster]:
    require_server("ejabberd")
    with EjabberdCluster(2, extra_hosts=(SECOND_HOST,)) as started:
        print(f"\ntwo-node cluster up in {started.startup_seconds:.1f} s")
        yield started


@pytest_asyncio.fixture(scope="module")
async def deployment(cluster: EjabberdCluster, redis_server: RedisServer,
                     tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    configs = [daemon_config(node, tmp_path_factory.mktemp(f"daemon{node.index}") / "store.db",
                             xmpp={"balanced": True}, shared={"redis_url": redis_server.url(3)})
               for node in cluster.nodes]
    balancer = RoundRobin([f"http://127.0.0.1:{config.http.port}" for config in configs])
    await balancer.start()
    try:
        async with running_daemon(configs[0]) as a, running_daemon(configs[1]) as b, \
                aiohttp.ClientSession() as session:
            yield Deployment(session, cluster, a, b, balancer)
    finally:
        await balancer.close()


def test_the_nodes_form_one_mnesia_cluster(cluster: EjabberdCluster) -> None:
    want = ["ejabberd1@127.0.0.1", "ejabberd2@127.0.0.1"]
    assert [node.cluster_members() for node in cluster.nodes] == [want, want]
    assert len({node.c2s_port for node in cluster.nodes}) == 2


async def test_messages_from_either_daemon_reach_users_on_either_node(
        deployment: Deployment) -> None:
    one, two = deployment.cluster.nodes
    users = [await deployment.user_on(one, "bob"), await deployment.user_on(two, "carol")]
    try:
        sent = []
        for name, daemon in (("a", deployment.a), ("b", deployment.b)):
            for jid, _client in users:
                message_id = f"{name}-to-{jid.partition('-')[0]}-{secrets.token_hex(2)}"
                status, reply, _ = await deployment.call(daemon, "send_thirdmessage",
                                                         third(jid, message_id))
                assert (status, reply["ret"]) == (200, True), reply
                sent.append((message_id, _client))
        for message_id, client in sent:
            assert await copies(client, message_id, settle=0.3) == 1, message_id
    finally:
        for _jid, client in users:
            await client.close()
