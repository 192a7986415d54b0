"""Fixtures for the real-server tier: every test runs against Debian's ejabberd 23.01 and
against Debian's Prosody 0.12 (`xmpp_server` is parametrized: `pytest -k prosody` picks one).

A server is shared by the session (ejabberd costs 1-2 s to start); tests stay independent by
never sharing users or rooms (`make_user` hands out unique names). Where the servers
legitimately differ, tests assert each one's documented behaviour through `caps` (the
daemon's own table, component/servers.py), never by skipping. Without a server installed its
tests skip, except in CI (CI=true), where a missing server must fail the run instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Generator, Iterator
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import aiohttp
import orjson
import pytest
import pytest_asyncio

from component.app import Daemon
from component.config import Config, parse_config
from component.servers import Capabilities, profile_of
from devenv import redis as redis_dev
from devenv.proc import free_ports
from devenv.servers import KINDS, OBSERVER, XmppServer, installed, new_server
from tests.integration.xmpp_client import XmppClient

# A user domain the session server serves but the daemon's config does not list (add_host).
SECOND_HOST = "second.test.org"


class Account(NamedTuple):
    """A registered user; unpacks as (jid, password)."""

    jid: str
    password: str

    @property
    def user(self) -> str:
        return self.jid.partition("@")[0]


class UserFactory(Protocol):
    def __call__(self, prefix: str = "user", host: str | None = None) -> Account: ...


class ClientFactory(Protocol):
    def __call__(
        self, jid: str, password: str, resource: str = "test", *, presence: bool = True
    ) -> Awaitable[XmppClient]: ...


def require_server(kind: str) -> None:
    if not (redis_dev.installed() if kind == "redis-server" else installed(kind)):
        reason = f"{kind} not installed: `make servers` installs Debian's ejabberd, prosody " \
                 "and redis-server"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[redis_dev.RedisServer]:
    """A module's own redis-server on a free loopback port (the cluster's shared state)."""
    require_server("redis-server")
    with redis_dev.RedisServer() as server:
        yield server


@contextlib.contextmanager
def started_server(kind: str, *, extra_hosts: tuple[str, ...] = ()) -> Iterator[XmppServer]:
    """A fresh server of that kind (skipped, or failed in CI, if it is not installed)."""
    require_server(kind)
    server = new_server(kind, extra_hosts=extra_hosts)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session", params=KINDS)
def xmpp_server(request: pytest.FixtureRequest) -> Iterator[XmppServer]:
    with started_server(request.param, extra_hosts=(SECOND_HOST,)) as server:
        yield server


@pytest.fixture(scope="module", params=KINDS)
def private_server(request: pytest.FixtureRequest) -> Iterator[XmppServer]:
    """A server for one module's own daemon. A second daemon must never join the session's
    server: ejabberd balances a component domain's traffic over all its connections, so each
    daemon would get some of the other's pongs and drop its link for want of them; Prosody
    refuses the second connection (§3h).

    A module takes it with `xmpp_server = private_server` and `make_user = private_make_user`
    (pytest names a fixture by the module attribute), which also moves `client_factory`.
    """
    with started_server(request.param) as server:
        yield server


@pytest.fixture(scope="module")
def private_make_user(xmpp_server: XmppServer) -> UserFactory:
    """`make_user` for a module whose `xmpp_server` is its own."""
    return user_factory(xmpp_server)


def capabilities(server: XmppServer) -> Capabilities:
    """What the daemon can do beside this server (README, compatibility)."""
    return profile_of(server.kind).capabilities


@pytest.fixture
def caps(xmpp_server: XmppServer) -> Capabilities:
    return capabilities(xmpp_server)


@pytest.fixture(scope="session")
def admin(xmpp_server: XmppServer) -> Account:
    """The account listed as ad-hoc admin in the session daemon's config; both servers also
    make it a MUC service admin (devenv), so it observes any room (`observer`)."""
    xmpp_server.register(OBSERVER, "pw-admin", exist_ok=True)
    return Account(f"{OBSERVER}@{xmpp_server.host}", "pw-admin")


@pytest_asyncio.fixture
async def observer(client_factory: ClientFactory, admin: Account) -> XmppClient:
    """A c2s session of the MUC service admin: the server's own view of rooms, over XMPP."""
    return await client_factory(*admin, resource="observer")


@pytest.fixture(scope="session")
def make_user(xmpp_server: XmppServer) -> UserFactory:
    """`make_user("alice")` registers e.g. alice3-9f2c1a@qtalk.test.org, never seen before."""
    return user_factory(xmpp_server)


def user_factory(server: XmppServer) -> UserFactory:
    serial = itertools.count(1)

    def new_user(prefix: str = "user", host: str | None = None) -> Account:
        name = f"{prefix.lower()}{next(serial)}-{secrets.token_hex(3)}"
        password = f"pw-{name}"
        server.register(name, password, host)
        return Account(f"{name}@{host or server.host}", password)

    return new_user


@pytest_asyncio.fixture
async def client_factory(xmpp_server: XmppServer) -> AsyncIterator[ClientFactory]:
    """Connects c2s clients to the session server and closes them all after the test."""
    clients: list[XmppClient] = []

    async def connect(
        jid: str, password: str, resource: str = "test", *, presence: bool = True
    ) -> XmppClient:
        client = await XmppClient.connect(
            xmpp_server.c2s_port, jid, password, resource, presence=presence)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        await client.close()


def daemon_config(server: XmppServer, store: Path, **extra: Any) -> Config:
    """A daemon config pointing at `server`, with short timeouts for tests."""
    (http_port,) = free_ports(1)
    doc: dict[str, Any] = {
        "xmpp": {"server": "127.0.0.1", "port": server.component_port,
                 "domain": server.component_domain, "secret": server.secret,
                 "hosts": [server.host], "muc_domain": server.muc_domain,
                 "server_kind": server.kind,
                 "ping_interval": 5, "iq_timeout": 5, "reconnect_max_delay": 1},
        "http": {"bind": "127.0.0.1", "port": http_port},
        "store": {"path": str(store)},
    }
    for section, values in extra.items():
        if isinstance(values, list):  # an array of tables: [[integrators]]
            doc[section] = values
        else:
            doc.setdefault(section, {}).update(values)
    return parse_config(doc)


class RunningDaemon(NamedTuple):
    daemon: Daemon
    url: str  # http://127.0.0.1:PORT/qtalk/

    async def ready(self, timeout: float = 30.0) -> None:
        await asyncio.wait_for(self.daemon.link.up.wait(), timeout)


@pytest_asyncio.fixture(scope="session")
async def daemon(xmpp_server: XmppServer, admin: Account,
                 tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[RunningDaemon]:
    """qtalk-component, in this process and event loop, linked to the session's server."""
    config = daemon_config(xmpp_server, tmp_path_factory.mktemp("daemon") / "store.db",
                           adhoc={"admins": [admin.jid]})
    async with running_daemon(config) as handle:
        yield handle


@pytest_asyncio.fixture(scope="module")
async def private_daemon(xmpp_server: XmppServer, tmp_path_factory: pytest.TempPathFactory
                         ) -> AsyncIterator[RunningDaemon]:
    """A module's own daemon, on its own server: `daemon = private_daemon` next to
    `xmpp_server = private_server` (and `api` follows), for modules whose requests change the
    daemon's state (hosts added, rooms made) where other tests would see it."""
    config = daemon_config(xmpp_server, tmp_path_factory.mktemp("private") / "store.db")
    async with running_daemon(config) as handle:
        yield handle


@contextlib.asynccontextmanager
async def running_daemon(config: Config) -> AsyncIterator[RunningDaemon]:
    """A started daemon whose link is up; stopped on exit."""
    running = await Daemon.open(config)
    try:
        await running.start()
        handle = RunningDaemon(running, f"http://127.0.0.1:{config.http.port}/qtalk/")
        await handle.ready()
        yield handle
    finally:
        await running.stop()


class Api(Protocol):
    def __call__(self, path: str, body: Any = None, *, method: str = "POST",
                 headers: dict[str, str] | None = None) -> Awaitable[tuple[int, Any]]: ...


@pytest_asyncio.fixture
async def api(daemon: RunningDaemon) -> AsyncIterator[Api]:
    """POST JSON to the daemon; returns (HTTP status, decoded envelope). Waits for the link."""
    await daemon.ready()
    async with aiohttp.ClientSession() as session:
        async def call(path: str, body: Any = None, *, method: str = "POST",
                       headers: dict[str, str] | None = None) -> tuple[int, Any]:
            data = body if isinstance(body, bytes) else orjson.dumps(body)
            async with session.request(method, daemon.url + path, data=data,
                                       headers=headers) as response:
                return response.status, orjson.loads(await response.read())

        yield call


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the server's log tail to the report of any failing test that used it."""
    report = yield
    server = getattr(item, "funcargs", {}).get("xmpp_server")
    if report.failed and server is not None:
        report.sections.append((f"{server.kind} log tail", server.log_tail(40)))
    return report

