"""`systemctl reload` (issue 16): SIGHUP to the daemon as a process re-reads its config file.

The daemon runs as `python -m component` beside a real server, as systemd runs it; each test
rewrites its config file, sends SIGHUP, waits for the reload's log line and asks over real
sockets what changed. The module has a server of its own (`private_server`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from devenv.demo import config_toml
from devenv.proc import free_ports
from devenv.servers import XmppServer
from tests.integration.conftest import (
    ClientFactory,
    UserFactory,
    private_make_user,
    private_server,
)
from tests.integration.test_faults import daemon_process
from tests.integration.test_probe import wait_ready
from tests.integration.xmpp_client import XmppClient

xmpp_server = private_server
make_user = private_make_user

FIRST, SECOND = "reload-first-token", "reload-second-token"
DEADLINE = aiohttp.ClientTimeout(total=10)


def integrator(name: str, token: str) -> list[str]:
    return ["[[integrators]]", f'name = "{name}"',
            f'token_sha256 = "{hashlib.sha256(token.encode()).hexdigest()}"',
            'endpoints = ["*"]', 'hosts = ["*"]', ""]


class Reloadable:
    """The daemon process, its config file and its log."""

    def __init__(self, server: XmppServer, workdir: Path, port: int) -> None:
        self.server, self.workdir, self.port = server, workdir, port
        self.config, self.log = workdir / "config.toml", workdir / "daemon.log"
        self.base = f"http://127.0.0.1:{port}"
        self.pid = 0

    def write(self, *, extra: Sequence[str] = (), port: int | None = None,
              store: str = "store.db", xmpp: Sequence[str] = (),
              http: Sequence[str] = ()) -> None:
        """The config file: the first integrator unless `extra` says otherwise."""
        text = config_toml(self.server, http_port=port or self.port,
                           store=self.workdir / store, xmpp=["reconnect_max_delay = 1", *xmpp],
                           extra=list(extra) or integrator("first", FIRST))
        self.config.write_text(text.replace("[http]\n", "\n".join(["[http]", *http, ""])))

    def log_lines(self) -> list[str]:
        return self.log.read_text("utf-8", "replace").splitlines()

    async def reload(self) -> list[str]:
        """SIGHUP, then the log lines the reload wrote (once its last one is there)."""
        before = len(self.log_lines())
        os.kill(self.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines = self.log_lines()[before:]
            if any(re.search(r"reload: .*( read; |problem\(s\))", line) for line in lines):
                return [line for line in lines if "reload: " in line]
            await asyncio.sleep(0.02)
        raise TimeoutError("the daemon logged no reload")


@pytest.fixture(scope="module")
def daemon(xmpp_server: XmppServer,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reloadable]:
    (port,) = free_ports(1)
    handle = Reloadable(xmpp_server, tmp_path_factory.mktemp("reload"), port)
    handle.write()
    with daemon_process(handle.config, handle.log) as process:
        handle.pid = process.pid
        wait_ready(handle.base + "/readyz")
        yield handle
        assert process.poll() is None, "SIGHUP ended the daemon"


@pytest_asyncio.fixture
async def reloadable(daemon: Reloadable) -> AsyncIterator[Reloadable]:
    """The daemon back on its first config file (what an earlier test changed, undone)."""
    daemon.write()
    await daemon.reload()
    yield daemon


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=DEADLINE) as client:
        yield client


async def send(session: aiohttp.ClientSession, daemon: Reloadable, token: str, body: Any,
               path: str = "send_thirdmessage") -> tuple[int, Any]:
    async with session.post(f"{daemon.base}/qtalk/{path}", data=orjson.dumps(body),
                            headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, orjson.loads(await response.read())


def message(sender: str, recipient: str, text: str) -> dict[str, str]:
    return {"from": sender, "to": recipient,
            "message": f"<message type='chat'><body>{text}</body></message>"}


async def reconnects(session: aiohttp.ClientSession, daemon: Reloadable) -> float:
    async with session.get(daemon.base + "/metrics") as response:
        found = re.search(r"^qtalk_link_reconnects(?:_total)? (\S+)$",
                          await response.text(), re.MULTILINE)
    assert found is not None
    return float(found[1])


async def received(client: XmppClient, message_id: str) -> None:
    await client.wait_message(lambda m: m.get("id") == message_id)


async def test_a_revoked_token_is_401_and_a_new_integrator_works_at_once(
        reloadable: Reloadable, session: aiohttp.ClientSession, make_user: UserFactory,
        client_factory: ClientFactory) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    bob_client = await client_factory(*bob)
    status, _ = await send(session, reloadable, FIRST, message(alice.jid, bob.jid, "before"))
    assert status == 200
    reloadable.write(extra=[*integrator("second", SECOND), "[limits]", "max_items = 1"])
    lines = await reloadable.reload()
    assert any("applied limits.max_items, integrators (added: second; removed: first)"
               in line for line in lines), lines
    status, reply = await send(session, reloadable, FIRST, message(alice.jid, bob.jid, "no"))
    assert (status, reply["errcode"]) == (401, 1401)
    status, reply = await send(session, reloadable, SECOND, message(alice.jid, bob.jid, "yes"))
    assert status == 200, reply
    await received(bob_client, reply["data"]["id"])
    status, reply = await send(session, reloadable, SECOND, [
        message(alice.jid, bob.jid, "one"), message(alice.jid, bob.jid, "two")])
    assert (status, reply["errcode"]) == (413, 1005), "the new limits apply too"


async def test_a_request_in_flight_during_a_reload_completes(
        reloadable: Reloadable, make_user: UserFactory, client_factory: ClientFactory) -> None:
    """Admitted under the old token, its body sent after the token is revoked: it is
    answered and delivered under the set it began with."""
    alice, bob = make_user("alice"), make_user("bob")
    bob_client = await client_factory(*bob)
    body = orjson.dumps(message(alice.jid, bob.jid, "in flight"))
    reader, writer = await asyncio.open_connection("127.0.0.1", reloadable.port)
    try:
        writer.write(b"POST /qtalk/send_thirdmessage HTTP/1.1\r\nHost: t\r\n"
                     b"Authorization: Bearer " + FIRST.encode() + b"\r\n"
                     b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        # The 100 is written once the head is admitted: the request is in flight.
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10) \
            == b"HTTP/1.1 100 Continue\r\n\r\n"
        reloadable.write(extra=integrator("second", SECOND))
        await reloadable.reload()
        writer.write(body)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200 "), head
        length = int(re.search(rb"(?i)content-length: (\d+)", head)[1])  # type: ignore[index]
        reply = orjson.loads(await reader.readexactly(length))
    finally:
        writer.close()
    await received(bob_client, reply["data"]["id"])
    async with aiohttp.ClientSession(timeout=DEADLINE) as session:
        status, _ = await send(session, reloadable, FIRST, message(alice.jid, bob.jid, "next"))
    assert status == 401, "the next request is judged by the new set"


async def test_a_reload_drops_no_link_and_loses_nothing_accepted(
        reloadable: Reloadable, session: aiohttp.ClientSession, make_user: UserFactory,
        client_factory: ClientFactory) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    bob_client = await client_factory(*bob)
    before = await reconnects(session, reloadable)
    reloadable.write(extra=[*integrator("first", FIRST), "[log]", 'level = "WARNING"'])

    async def one(n: int) -> str:
        if n == 100:
            await reloadable.reload()
        status, reply = await send(session, reloadable, FIRST,
                                   message(alice.jid, bob.jid, f"burst {n}"))
        assert status == 200, reply
        return str(reply["data"]["id"])

    ids: list[str] = []
    for start in range(0, 200, 20):
        ids += await asyncio.gather(*(one(n) for n in range(start, start + 20)))
    for message_id in ids:
        await received(bob_client, message_id)
    assert await reconnects(session, reloadable) == before


async def test_an_invalid_file_changes_nothing_and_logs_each_problem(
        reloadable: Reloadable, session: aiohttp.ClientSession, make_user: UserFactory) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    reloadable.write(extra=[*integrator("second", SECOND), "[limits]", "max_items = 0",
                            "[log]", 'level = "LOUD"'])
    check = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "component", "--config", str(reloadable.config), "--check",
        stderr=asyncio.subprocess.PIPE)
    _, stderr = await check.communicate()
    problems = [line[4:] for line in stderr.decode().splitlines() if line.startswith("  - ")]
    assert len(problems) >= 2, stderr
    lines = await reloadable.reload()
    assert any(f"has {len(problems)} problem(s); nothing changed" in line for line in lines)
    for problem in problems:
        assert any(line.endswith(f"reload: {problem}") for line in lines), (problem, lines)
    status, _ = await send(session, reloadable, FIRST, message(alice.jid, bob.jid, "old set"))
    assert status == 200
    status, _ = await send(session, reloadable, SECOND, message(alice.jid, bob.jid, "not yet"))
    assert status == 401


async def test_a_changed_port_is_logged_and_ignored(
        reloadable: Reloadable, session: aiohttp.ClientSession) -> None:
    (other_port,) = free_ports(1)
    reloadable.write(port=other_port, store="elsewhere.db", xmpp=["ping_interval = 7"],
                     http=["always_200 = true"])
    lines = await reloadable.reload()
    for key in ("http.port", "store.path", "xmpp.ping_interval"):
        assert sum(f"reload: {key} changed in" in line and "until a restart" in line
                   for line in lines) == 1, (key, lines)
    assert any("applied http.always_200" in line for line in lines), lines
    status, reply = await send(session, reloadable, "wrong-token", {})
    assert (status, reply["errcode"]) == (200, 1401), "served on the old port, 200 switch on"
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", other_port)
    assert not (reloadable.workdir / "elsewhere.db").exists()
