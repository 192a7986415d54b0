"""A real two-node ejabberd cluster (devenv/ejabberd_cluster.py): daemon A beside node 1,
daemon B beside node 2, both sharing Redis, a round-robin balancer in front. Messages from
either daemon reach users on either node; a node killed mid-burst loses nothing that was
answered. (Keys, add_host, Idempotency-Key, caller ids and Redis stopped and started again
run against this cluster too: test_shared_state.py's "two-node cluster".)"""

from __future__ import annotations

import asyncio
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
from tests.integration.test_faults import BURST, Burst, received_ids, report
from tests.integration.test_faults import third as third_for
from tests.integration.test_shared_state import Caller, copies, recovered, third
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


async def test_redis_stopped_and_started_during_a_burst(
        deployment: Deployment, redis_server: RedisServer) -> None:
    """2,000 messages with caller ids (which need Redis) through the balancer; Redis stops a
    quarter in and starts again half-way: meanwhile both daemons refuse them with 503 2007,
    nothing else fails, every answered message arrives once, and both recover by themselves."""
    one, two = deployment.cluster.nodes
    bob1, on_one = await deployment.user_on(one, "bob1")
    bob2, on_two = await deployment.user_on(two, "bob2")
    burst = Burst(deployment.balancer.url + "/qtalk/", deployment.cluster.host, "rd",
                  users=[bob1.partition("@")[0], bob2.partition("@")[0]])

    async def outage(done: int) -> None:
        if done == BURST // 4:
            await asyncio.to_thread(redis_server.stop)
        elif done == BURST // 2:
            await asyncio.to_thread(redis_server.start)

    try:
        await burst.run(outage)
        for daemon in (deployment.a, deployment.b):
            await recovered(deployment, daemon)
        seen = await received_ids([on_one, on_two], set(burst.answers), timeout=60)
        report("Redis stopped and started, cluster", burst, seen)
        assert set(burst.failures) == {"503 2007"}
        assert BURST // 2 <= len(burst.answers) < BURST
        assert set(burst.answers) - set(seen) == set()
        assert {seen[message_id] for message_id in burst.answers} == {1}
        # The ids answered before the outage are still remembered (append-only file).
        first = min(burst.answers, key=lambda message_id: int(message_id.split("-")[1]))
        n = int(first.split("-")[1])
        status, reply, _ = await deployment.call(
            deployment.b, "send_thirdmessage",
            third_for(n, deployment.cluster.host, "rd", burst.users[n % 2]))
        assert (status, reply["data"].get("duplicate")) == (200, True)
    finally:
        await on_one.close()
        await on_two.close()


async def test_kill_9_a_node_during_a_burst_through_the_balancer(
        deployment: Deployment) -> None:
    """Node 2 (beside daemon B, and bob2's server) is killed a quarter into 2,000 messages
    sent through the balancer to bob1 (on node 1) and bob2 in turn, and started again at once
    on its spool: B keeps answering (`queued` while its link is down), A goes on, and every
    answered message reaches its user once node 2 is back (bob2's after a reconnect to
    node 1)."""
    one, two = deployment.cluster.nodes
    bob1, on_one = await deployment.user_on(one, "bob1")
    bob2, on_two = await deployment.user_on(two, "bob2")
    clients = [on_one, on_two]
    burst = Burst(deployment.balancer.url + "/qtalk/", deployment.cluster.host, "kn",
                  users=[bob1.partition("@")[0], bob2.partition("@")[0]])
    served_before = dict(deployment.balancer.served)
    restarted: list[asyncio.Future[None]] = []

    async def kill_node_two_at_a_quarter(done: int) -> None:
        if done == BURST // 4 and not restarted:
            two.kill()
            restarted.append(asyncio.get_running_loop().run_in_executor(None, two.start))
            # bob2's client does what a client of a cluster does when its node dies: it
            # logs in again through a node that is up (the messages it missed meanwhile
            # wait in the cluster's offline storage).
            clients.append(await XmppClient.connect(one.c2s_port, bob2,
                                                    f"pw-{bob2.split('@')[0]}"))

    try:
        await burst.run(kill_node_two_at_a_quarter)
        await asyncio.wait_for(restarted[0], 60)
        await deployment.b.ready(60)
        seen = await received_ids(clients, set(burst.answers), timeout=60)
        served = {base: count - served_before.get(base, 0)
                  for base, count in deployment.balancer.served.items()}
        report("kill -9 cluster node 2", burst, seen)
        missing = sorted(set(burst.answers) - set(seen))
        print(f"served per daemon: {served}; {len(missing)} answered but not received: "
              f"{ {m: burst.answers[m] for m in missing[:20]} }")
        assert all(count > BURST // 4 for count in served.values())
        assert len(burst.answers) >= BURST - 50  # only requests cut by the kill may fail
        assert set(burst.answers) - set(seen) == set()
    finally:
        for client in clients:
            await client.close()
