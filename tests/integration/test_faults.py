"""Nothing accepted is lost: kill -9 the server or the daemon mid-burst, cut the link for 30 s.

Each test gets its own server (these tests kill it), ejabberd then Prosody, and counts, at a
real client, every message the daemon answered `routed` or `queued` for.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import aiohttp
import orjson
import pytest

from component.app import Daemon
from component.config import Config
from component.store.outbox_file import outbox_path
from devenv.demo import config_toml
from devenv.servers import KINDS, XmppServer
from tests.integration.conftest import daemon_config, started_server
from tests.integration.tcp_proxy import CuttableProxy
from tests.integration.xmpp_client import XmppClient, tag

BURST = 2000
CONCURRENCY = 32


@pytest.fixture(params=KINDS)
def own_server(request: pytest.FixtureRequest) -> Iterator[XmppServer]:
    with started_server(request.param) as server:
        server.register("bob", "pw-bob")
        yield server


def third(n: int, host: str, tag_: str, user: str = "bob") -> dict[str, str]:
    return {"from": f"alice@{host}", "to": f"{user}@{host}",
            "message": f"<message type='chat'><body id='{tag_}-{n}'>n{n}</body></message>"}


class Burst:
    """Sends BURST messages, CONCURRENCY at a time, to `users` in turn; records what the
    daemon answered."""

    def __init__(self, url: str, host: str, tag_: str,
                 users: Sequence[str] = ("bob",)) -> None:
        self.url, self.host, self.tag, self.users = url, host, tag_, tuple(users)
        self.answers: dict[str, str] = {}  # id → routed | queued
        self.failed = 0
        self.failures: Counter[str] = Counter()  # why, for the report
        self.done = 0

    async def run(self, on_progress: Callable[[int], Awaitable[None]] | None = None) -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(BURST):
            queue.put_nowait(n)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await asyncio.gather(*(self._worker(session, queue, on_progress)
                                   for _ in range(CONCURRENCY)))

    async def _worker(self, session: aiohttp.ClientSession, queue: asyncio.Queue[int],
                      on_progress: Callable[[int], Awaitable[None]] | None) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            try:
                async with session.post(self.url + "send_thirdmessage",
                                        data=orjson.dumps(third(n, self.host, self.tag,
                                                              self.users[n % len(self.users)]))
                                        ) as r:
                    reply = orjson.loads(await r.read())
                if reply["ret"]:
                    self.answers[reply["data"]["id"]] = reply["data"]["status"]
                else:
                    self.failed += 1
                    self.failures[f"{r.status} {reply['errcode']}"] += 1
            except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
                self.failed += 1
                self.failures[type(exc).__name__] += 1
            self.done += 1
            if on_progress is not None:
                await on_progress(self.done)


async def received_ids(clients: list[XmppClient], want: set[str], timeout: float) -> Counter[str]:
    """Message ids seen by the clients, waiting until every wanted id arrived or time is up.

    (A stock ejabberd strips the body's id; the message's own id is the same one.)
    """
    deadline = time.monotonic() + timeout
    while True:
        seen = Counter(message.get("id") for client in clients for message in client.messages()
                       if message.find(tag("body")) is not None)
        if want <= set(seen) or time.monotonic() > deadline:
            return seen  # type: ignore[return-value]
        await asyncio.sleep(0.2)


async def started_daemon(config: Config) -> Daemon:
    daemon = await Daemon.open(config)
    await daemon.start()
    await asyncio.wait_for(daemon.link.up.wait(), 30)
    return daemon


def report(name: str, burst: Burst, seen: Counter[str]) -> None:
    answered = set(burst.answers)
    print(f"\n{name}: {BURST} requests, {len(answered)} answered "
          f"({Counter(burst.answers.values())}), {burst.failed} refused or cut "
          f"{dict(burst.failures)}; "
          f"{len(answered & set(seen))} of the answered received, "
          f"{sum(seen.values())} copies in all ({sum(c - 1 for c in seen.values())} duplicates)")


async def test_kill_9_the_server_during_a_burst(own_server: XmppServer,
                                               tmp_path: Path) -> None:
    ej = own_server
    daemon = await started_daemon(daemon_config(ej, tmp_path / "store.db"))
    url = f"http://127.0.0.1:{daemon.config.http.port}/qtalk/"
    bob = await XmppClient.connect(ej.c2s_port, f"bob@{ej.host}", "pw-bob")
    burst = Burst(url, ej.host, "kej")
    killed = asyncio.Event()

    async def kill_at_a_quarter(done: int) -> None:
        if done == BURST // 4 and not killed.is_set():
            killed.set()
            ej.kill()
            asyncio.get_running_loop().run_in_executor(None, ej.start)

    try:
        await burst.run(kill_at_a_quarter)
        await asyncio.wait_for(daemon.link.up.wait(), 60)
        bob_again = await XmppClient.connect(ej.c2s_port, f"bob@{ej.host}", "pw-bob")
        seen = await received_ids([bob, bob_again], set(burst.answers), timeout=60)
        report(f"kill -9 {ej.kind}", burst, seen)
        assert killed.is_set()
        assert len(burst.answers) > BURST // 2
        assert set(burst.answers) - set(seen) == set()
        await bob_again.close()
    finally:
        await bob.close()
        await daemon.stop()


async def test_link_cut_for_30_seconds(own_server: XmppServer, tmp_path: Path) -> None:
    ej = own_server
    proxy = CuttableProxy(ej.component_port)
    await proxy.start()
    config = daemon_config(ej, tmp_path / "store.db", xmpp={"port": proxy.port})
    daemon = await started_daemon(config)
    url = f"http://127.0.0.1:{config.http.port}/qtalk/"
    bob = await XmppClient.connect(ej.c2s_port, f"bob@{ej.host}", "pw-bob")
    try:
        await proxy.cut()
        cut_at = time.monotonic()
        answers: dict[str, str] = {}
        async with aiohttp.ClientSession() as session:
            n = 0
            while time.monotonic() - cut_at < 30:
                async with session.post(url + "send_thirdmessage",
                                        data=orjson.dumps(third(n, ej.host, "cut"))) as r:
                    reply = orjson.loads(await r.read())
                answers[reply["data"]["id"]] = reply["data"]["status"]
                n += 1
                await asyncio.sleep(0.1)
        assert set(answers.values()) == {"queued"}
        await proxy.restore()
        seen = await received_ids([bob], set(answers), timeout=60)
        print(f"\nlink cut 30 s: {len(answers)} requests answered queued, "
              f"{len(set(answers) & set(seen))} received after the link came back")
        assert set(answers) <= set(seen)
    finally:
        await bob.close()
        await daemon.stop()
        await proxy.close()


@contextlib.contextmanager
def daemon_process(config_path: Path, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "component", "--config",
                                    str(config_path)], stdout=log, stderr=log,
                                   start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def wait_ready(base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(base + "/readyz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise TimeoutError("the daemon did not become ready")


def signal_at_half(process: subprocess.Popen[bytes], sig: signal.Signals
                   ) -> Callable[[int], Awaitable[None]]:
    """A burst's progress hook that signals the daemon's process group half-way through."""
    async def at_half(done: int) -> None:
        if done == BURST // 2 and process.poll() is None:
            os.killpg(process.pid, sig)

    return at_half


def write_config(server: XmppServer, config: Config, path: Path) -> None:
    """The config file of a daemon subprocess, the same as `config` says."""
    text = config_toml(server, http_port=config.http.port, store=config.store.path,
                       xmpp=[f"balanced = {str(config.xmpp.balanced).lower()}",
                             "reconnect_max_delay = 1"])
    path.write_text(text.replace(
        "[store]\n", f'[store]\nsynchronous = "{config.store.synchronous}"\n'))


async def subprocess_burst(server: XmppServer, tmp_path: Path, tag: str,
                           synchronous: str = "normal") -> tuple[str, XmppClient, Burst]:
    """For a daemon subprocess: its config file written, its URL, bob online, a burst."""
    config = daemon_config(server, tmp_path / "store.db")
    config = replace(config, store=replace(config.store, synchronous=synchronous))
    write_config(server, config, tmp_path / "config.toml")
    base = f"http://127.0.0.1:{config.http.port}"
    bob = await XmppClient.connect(server.c2s_port, f"bob@{server.host}", "pw-bob")
    return base, bob, Burst(base + "/qtalk/", server.host, tag)


@pytest.mark.parametrize("synchronous", ["normal", "full"])
async def test_kill_9_the_daemon_during_a_burst(own_server: XmppServer, tmp_path: Path,
                                                synchronous: str) -> None:
    """Against a kill -9 both settings keep what was answered (README: durability)."""
    base, bob, burst = await subprocess_burst(own_server, tmp_path, "kd", synchronous)
    try:
        with daemon_process(tmp_path / "config.toml", tmp_path / "daemon.log") as first:
            await wait_ready(base)

            await burst.run(signal_at_half(first, signal.SIGKILL))
            first.wait(10)
        with daemon_process(tmp_path / "config.toml", tmp_path / "daemon.log"):
            await wait_ready(base)
            seen = await received_ids([bob], set(burst.answers), timeout=60)
        report("kill -9 daemon", burst, seen)
        assert BURST // 2 <= len(burst.answers) < BURST
        assert set(burst.answers) - set(seen) == set()
    finally:
        await bob.close()


async def test_sigterm_drains_what_was_accepted(own_server: XmppServer,
                                                tmp_path: Path) -> None:
    """SIGTERM mid-burst: the daemon stops accepting, lets requests in flight finish, waits
    for their acknowledgement, closes the stream and exits 0 with an empty outbox."""
    base, bob, burst = await subprocess_burst(own_server, tmp_path, "term")
    try:
        with daemon_process(tmp_path / "config.toml", tmp_path / "daemon.log") as daemon:
            await wait_ready(base)

            await burst.run(signal_at_half(daemon, signal.SIGTERM))
            exit_code = await asyncio.to_thread(daemon.wait, 30)
        seen = await received_ids([bob], set(burst.answers), timeout=30)
        report("SIGTERM daemon", burst, seen)
        assert exit_code == 0
        assert BURST // 2 <= len(burst.answers) < BURST
        assert set(burst.answers) - set(seen) == set()
        with sqlite3.connect(outbox_path(tmp_path / "store.db")) as db:
            assert db.execute("SELECT COUNT(*) FROM outbox").fetchone() == (0,)
    finally:
        await bob.close()
