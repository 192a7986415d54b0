"""Fixtures for the real-server tier: one isolated ejabberd per session, fresh users per test.

The server costs 1-2 s to start, so it is shared; tests stay independent by never sharing users
or rooms (`make_user` hands out unique names). Without ejabberd installed these tests skip, except
in CI (CI=true), where a missing server must fail the run rather than hide the tier.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Generator, Iterator
from typing import NamedTuple, Protocol

import pytest
import pytest_asyncio

from devenv.ejabberd import EjabberdServer, installed
from tests.integration.xmpp_client import XmppClient


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


@pytest.fixture(scope="session")
def ejabberd() -> Iterator[EjabberdServer]:
    if not installed():
        reason = "ejabberd not installed: `make servers` installs Debian's ejabberd"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    with EjabberdServer() as server:
        yield server


@pytest.fixture(scope="session")
def make_user(ejabberd: EjabberdServer) -> UserFactory:
    """`make_user("alice")` registers e.g. alice3-9f2c1a@qtalk.test.org, never seen before."""
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


# The `daemon` fixture (qtalk-component started against `ejabberd`) goes here.


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

