"""add_host: runtime user domains, kept in the store, in effect at once; the HTTP route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from component.errors import BadField
from component.http.hosts import HostRoutes
from component.http.server import make_pipeline
from component.services.hosts import HostRegistry
from component.store.db import Database
from component.store.hosts import HostStore
from tests.unit.fakes import COMPONENT, HOST, MUC
from tests.unit.http_apps import ApiClient, bearer, client_for, integrator, make_config
from tests.unit.test_http_messages import post


def registry(db: Database) -> HostRegistry:
    return HostRegistry((HOST,), MUC, store=HostStore(db), reserved=(COMPONENT,))


async def test_added_hosts_are_served_at_once_and_after_a_restart(db: Database) -> None:
    hosts = registry(db)
    assert not hosts.is_served("second.example")
    added = await hosts.add("Second.Example.")
    assert (added.domain, added.added) == ("second.example", True)
    assert hosts.is_served("SECOND.example")
    again = await hosts.add("second.example")
    assert (again.domain, again.added) == ("second.example", False)
    assert (await hosts.add(HOST)).added is False
    restarted = registry(db)
    assert not restarted.is_served("second.example")
    await restarted.load()
    assert restarted.is_served("second.example")
    assert restarted.hosts() == [HOST, "second.example"]
    assert restarted.default_host == HOST


@pytest.mark.parametrize("bad", ["", "bad domain", "a..b", "-x.example", "x_y.example",
                                 "a" * 64 + ".example", MUC, COMPONENT])
async def test_malformed_or_reserved_domains_are_refused(db: Database, bad: str) -> None:
    hosts = registry(db)
    with pytest.raises(BadField) as info:
        await hosts.add(bad)
    assert info.value.field == "host"
    assert await HostStore(db).all() == []


@pytest.fixture
async def client(db: Database) -> AsyncIterator[ApiClient]:
    app = make_pipeline(make_config(), HostRoutes(registry(db)).routes())
    async with client_for(app) as test_client:
        yield test_client


async def add_host(client: ApiClient, body: Any) -> tuple[int, Any]:
    return await post(client, "add_host", body)


async def test_add_host_route(client: ApiClient) -> None:
    assert await add_host(client, {"host": "new.example"}) == (200, {
        "ret": True, "errcode": 0, "errmsg": "success",
        "data": {"host": "new.example", "added": True}})
    status, reply = await add_host(client, {"host": "new.example"})
    assert (status, reply["errmsg"], reply["data"]["added"]) == (200, "already served", False)
    status, reply = await add_host(client, {"host": "not a domain"})
    assert (status, reply["errcode"]) == (400, 1002)
    status, reply = await add_host(client, {})
    assert (status, reply["errmsg"]) == (400, "host: missing")


async def test_an_integrator_adds_only_hosts_it_may_act_for(db: Database) -> None:
    config = make_config(integrators=[integrator("hr", "hr-token-0123456789", hosts=[HOST])])
    async with client_for(make_pipeline(config, HostRoutes(registry(db)).routes())) as client:
        response = await client.post("/qtalk/add_host", headers=bearer("hr-token-0123456789"),
                                     data=orjson.dumps({"host": "elsewhere.example"}))
        assert response.status == 403
    assert await HostStore(db).all() == []
