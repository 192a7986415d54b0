"""Fixtures for the real-server tier: one isolated ejabberd per session, fresh users per test.

The server costs 1-2 s to start, so it is shared; tests stay independent by never sharing users
or rooms (`make_user` hands out unique names). Without ejabberd installed these tests skip, except
in CI (CI=true), where a missing server must fail the run rather than hide the tier.
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
from devenv.ejabberd import EjabberdServer, installed
from devenv.proc import free_ports
from tests.integration.xmpp_client import XmppClient

# A user domain the session ejabberd serves but the daemon's config does not list (add_host).
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


def _require_ejabberd() -> None:
    if not installed():
        reason = "ejabberd not installed: `make servers` installs Debian's ejabberd"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def ejabberd() -> Iterator[EjabberdServer]:
    _require_ejabberd()
    with EjabberdServer(extra_hosts=(SECOND_HOST,)) as server:
        yield server


@pytest.fixture(scope="module")
def private_ejabberd() -> Iterator[EjabberdServer]:
    """A server for one module's own daemon. A second daemon must never join the session's
    server: ejabberd balances a component domain's traffic over all its connections, so each
    daemon would get some of the other's pongs and drop its link for want of them.

    A module takes it with `ejabberd = private_ejabberd` and `make_user = private_make_user`
    (pytest names a fixture by the module attribute), which also moves `client_factory`.
    """
    _require_ejabberd()
    with EjabberdServer() as server:
        yield server


@pytest.fixture(scope="module")
def private_make_user(ejabberd: EjabberdServer) -> UserFactory:
    """`make_user` for a module whose `ejabberd` is its own."""
    return user_factory(ejabberd)


@pytest.fixture(scope="session")
def admin(ejabberd: EjabberdServer) -> Account:
    """The account listed as ad-hoc admin in the session daemon's config."""
    ejabberd.register("admin", "pw-admin", exist_ok=True)
    return Account(f"admin@{ejabberd.host}", "pw-admin")


@pytest.fixture(scope="session")
def make_user(ejabberd: EjabberdServer) -> UserFactory:
    """`make_user("alice")` registers e.g. alice3-9f2c1a@qtalk.test.org, never seen before."""
    return user_factory(ejabberd)


def user_factory(ejabberd: EjabberdServer) -> UserFactory:
    serial = itertools.count(1)

    def new_user(prefix: str = "user", host: str | None = None) -> Account:
        name = f"{prefix.lower()}{next(serial)}-{secrets.token_hex(3)}"
        password = f"pw-{name}"
        ejabberd.register(name, password, host)
        return Account(f"{name}@{host or ejabberd.host}", password)

    return new_user


@pytest_asyncio.fixture
async def client_factory(ejabberd: EjabberdServer) -> AsyncIterator[ClientFactory]:
    """Connects c2s clients to the session server and closes them all after the test."""
    clients: list[XmppClient] = []

    async def connect(
        jid: str, password: str, resource: str = "test", *, presence: bool = True
    ) -> XmppClient:
        client = await XmppClient.connect(
            ejabberd.c2s_port, jid, password, resource, presence=presence)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        await client.close()


def daemon_config(server: EjabberdServer, store: Path, **extra: Any) -> Config:
    """A daemon config pointing at `server`, with short timeouts for tests."""
    (http_port,) = free_ports(1)
    doc: dict[str, Any] = {
        "xmpp": {"server": "127.0.0.1", "port": server.component_port,
                 "domain": server.component_domain, "secret": server.secret,
                 "hosts": [server.host], "muc_domain": server.muc_domain,
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
async def daemon(ejabberd: EjabberdServer, admin: Account,
                 tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[RunningDaemon]:
    """qtalk-component, in this process and event loop, linked to the session's ejabberd."""
    config = daemon_config(ejabberd, tmp_path_factory.mktemp("daemon") / "store.db",
                           adhoc={"admins": [admin.jid]})
    async with running_daemon(config) as handle:
        yield handle


@contextlib.asynccontextmanager
async def running_daemon(config: Config) -> AsyncIterator[RunningDaemon]:
    """A started daemon whose link is up; stopped on exit."""
    running = await Daemon.open(config)
    await running.start()
    try:
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
    server = getattr(item, "funcargs", {}).get("ejabberd")
    if report.failed and isinstance(server, EjabberdServer):
        report.sections.append(("ejabberd log tail", server.log_tail(40)))
    return report

