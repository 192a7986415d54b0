"""app.py's start and stop: what started is undone in reverse, a failed start included, and
every step of the stop runs even when one of them raises."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from component.app import Daemon
from component.xmpp.link import LinkState
from tests.unit.fake_server import FakeComponentServer
from tests.unit.http_apps import make_config


async def daemon_on(tmp_path: Path, http_port: int) -> tuple[Daemon, FakeComponentServer]:
    server = FakeComponentServer(secret="s3cret-for-tests")
    port = await server.start()
    config = make_config(xmpp={"server": "127.0.0.1", "port": port, "iq_timeout": 0.3},
                         http={"port": http_port},
                         store={"path": str(tmp_path / "store.db")})
    return await Daemon.open(config), server


def store_closed(daemon: Daemon) -> bool:
    return daemon.db.conn._connection is None


async def test_a_start_that_fails_is_unwound_by_stop(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        daemon, server = await daemon_on(tmp_path, taken.getsockname()[1])
        with pytest.raises(OSError, match="address already in use"):
            await daemon.start()  # the HTTP port is taken: the link had started already
        await daemon.stop()
    assert daemon.link.state is LinkState.STOPPED
    assert store_closed(daemon)
    await server.close()


async def test_every_step_of_stop_runs_when_one_raises(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    daemon, server = await daemon_on(tmp_path, port)

    async def broken() -> None:
        raise RuntimeError("resync would not close")

    daemon.resync.close = broken  # type: ignore[method-assign]  # a step that fails
    await daemon.start()
    with pytest.raises(RuntimeError, match="would not close"):
        await daemon.stop()
    assert daemon.link.state is LinkState.STOPPED
    assert store_closed(daemon)
    await server.close()
