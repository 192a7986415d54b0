"""auth_uk through the Redis backend: Startalk's login keys (db 2, HGET) in a real
redis-server started here on a free loopback port."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pytest
import redis.asyncio as aioredis

from component.config import parse_config
from component.http.server import make_pipeline
from component.http.users import UserRoutes
from component.jid import Jid
from component.services.hosts import HostRegistry
from component.services.keys import KeyService
from component.services.users import UserService
from component.store.db import Database
from component.store.keys import KeyStore, RedisKeys
from devenv.proc import LOOPBACK, free_ports
from devenv.redis import RedisServer
from tests.unit.fakes import NoUsers
from tests.unit.http_apps import ApiClient, client_for

HOST, OTHER = "qtalk.test.org", "second.test.org"


class Api(NamedTuple):
    client: ApiClient
    keys: KeyService


async def seed(port: int) -> None:
    """Keys as Startalk's login wrote them: both forms, into db 2 (original-behaviour §6)."""
    redis = aioredis.from_url(f"redis://{LOOPBACK}:{port}/2")
    for name, key in ((f"alice@{HOST}", "startalk-key"), ("alice", "startalk-key"),
                      (f"alice@{OTHER}", "other-key")):
        await redis.hset(name, key, "pc")
    await redis.aclose()


@contextlib.asynccontextmanager
async def serving(redis_url: str, store: Path) -> AsyncIterator[Api]:
    db = await Database.open(store)
    hosts = HostRegistry((HOST, OTHER), f"conference.{HOST}")
    keys = KeyService(KeyStore(db), hosts, ttl=60, external=RedisKeys(redis_url))
    doc = {"xmpp": {"server": LOOPBACK, "domain": "api.qtalk.test.org", "secret": "s3cret-x",
                    "hosts": [HOST, OTHER], "muc_domain": f"conference.{HOST}"}}
    routes = UserRoutes(UserService(NoUsers(), NoUsers(), hosts), keys, hosts).routes()
    try:
        async with client_for(make_pipeline(parse_config(doc), routes)) as client:
            yield Api(client, keys)
    finally:
        await keys.close()
        await db.close()


@pytest.fixture
async def api(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[Api]:
    await seed(redis_server.port)
    async with serving(redis_server.url(2), tmp_path / "store.db") as api:
        yield api


async def auth_uk(api: Api, u: str, k: str) -> tuple[int, Any]:
    response = await api.client.get("/qtalk/auth_uk", params={"u": u, "k": k})
    return response.status, orjson.loads(await response.read())


async def test_startalk_keys_in_redis(api: Api) -> None:
    assert (await auth_uk(api, "alice", "startalk-key"))[0] == 200
    assert (await auth_uk(api, f"alice@{HOST}", "startalk-key"))[0] == 200
    status, reply = await auth_uk(api, "alice", "wrong-key")
    assert (status, reply["errcode"]) == (401, 1011)
    # Scoped to a host: the key of alice on the first host says nothing about the other.
    assert (await auth_uk(api, f"alice@{OTHER}", "startalk-key"))[0] == 401
    assert (await auth_uk(api, f"alice@{OTHER}", "other-key"))[0] == 200
    assert (await auth_uk(api, "alice", "other-key"))[0] == 401


async def test_keys_minted_here_work_beside_redis(api: Api) -> None:
    minted = await api.keys.mint(Jid.parse(f"bob@{HOST}"))
    assert (await auth_uk(api, "bob", minted.key))[0] == 200


async def test_redis_down_is_a_503_not_a_wrong_key(tmp_path: Path) -> None:
    (port,) = free_ports(1)  # nothing listens there
    async with serving(f"redis://{LOOPBACK}:{port}/2", tmp_path / "store.db") as api:
        status, reply = await auth_uk(api, "alice", "startalk-key")
    assert (status, reply["errcode"]) == (503, 2005)
