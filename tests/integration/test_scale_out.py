"""Two daemons on one ejabberd behind one HTTP balancer (ejabberd's domain_balancing).

Both serve; either can die and the other carries on; nothing answered is lost (the dead
one's outbox is replayed when it is started again). Prosody refuses a second connection for
a component domain, so scale-out is ejabberd's alone (README's compatibility table).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from devenv.ejabberd import EjabberdServer, installed
from tests.integration.balancer import RoundRobin
from tests.integration.conftest import daemon_config
from tests.integration.test_faults import (
    BURST,
    Burst,
    daemon_process,
    received_ids,
    report,
    wait_ready,
    write_config,
)
from tests.integration.xmpp_client import XmppClient


@pytest.fixture
def balanced_ejabberd() -> Iterator[EjabberdServer]:
    if not installed():
        if os.environ.get("CI") == "true":
            pytest.fail("ejabberd not installed", pytrace=False)
        pytest.skip("ejabberd not installed: `make servers` installs Debian's ejabberd")
    with EjabberdServer(component_connections=2) as server:
        server.register("bob", "pw-bob")
        yield server


async def test_two_daemons_share_the_load_and_survive_each_other(
        balanced_ejabberd: EjabberdServer, tmp_path: Path) -> None:
    server = balanced_ejabberd
    paths, bases = [], []
    for name in ("a", "b"):
        config = daemon_config(server, tmp_path / f"{name}.db", xmpp={"balanced": True})
        write_config(server, config, tmp_path / f"{name}.toml")
        paths.append(tmp_path / f"{name}.toml")
        bases.append(f"http://127.0.0.1:{config.http.port}")
    bob = await XmppClient.connect(server.c2s_port, f"bob@{server.host}", "pw-bob")
    balancer = RoundRobin(bases)
    await balancer.start()
    try:
        with daemon_process(paths[0], tmp_path / "a.log") as first, \
                daemon_process(paths[1], tmp_path / "b.log"):
            for base in bases:
                await wait_ready(base)
            burst = Burst(balancer.url + "/qtalk/", server.host, "lb")

            async def kill_first_at_a_third(done: int) -> None:
                if done == BURST // 3 and first.poll() is None:
                    os.killpg(first.pid, signal.SIGKILL)

            await burst.run(kill_first_at_a_third)
            served_before_restart = dict(balancer.served)
            first.wait(10)
            with daemon_process(paths[0], tmp_path / "a.log"):  # same store: replays
                await wait_ready(bases[0])
                seen = await received_ids([bob], set(burst.answers), timeout=60)
        report("two daemons, one killed", burst, seen)
        print(f"served per daemon: {served_before_restart}")
        assert all(served_before_restart.get(base, 0) > 100 for base in bases)
        assert len(burst.answers) >= BURST - 50  # only requests cut by the kill may fail
        assert set(burst.answers) - set(seen) == set()
    finally:
        await balancer.close()
        await bob.close()
