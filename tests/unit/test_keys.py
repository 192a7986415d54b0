"""User keys: minted, checked, expired, scoped to a host; only hashes stored; auth_uk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from component.errors import DomainNotServed, Forbidden, KeysUnavailable
from component.http.server import make_pipeline
from component.http.users import UserRoutes
from component.jid import Jid
from component.services.keys import KeyService, key_hash
from component.services.users import UserService
from component.store.db import Database
from component.store.keys import KEEP_PER_USER, KeyStore
from tests.unit.clock import ManualClock
from tests.unit.fakes import HOST, NoUsers, hosts
from tests.unit.http_apps import ApiClient, client_for, make_config

ALICE = Jid.parse(f"alice@{HOST}/phone")
OTHER = "other.test.org"  # also served by the fake host policy



class FakeRedis:
    def __init__(self, keys: dict[str, set[str]], down: bool = False) -> None:
        self.keys, self.down = keys, down

    async def valid(self, name: str, key: str) -> bool:
        if self.down:
            raise KeysUnavailable("down")
        return key in self.keys.get(name, set())

    async def close(self) -> None:
        pass


@pytest.fixture
def keys(db: Database, clock: ManualClock) -> KeyService:
    return KeyService(KeyStore(db), hosts(), ttl=3600, clock=clock)


async def test_a_minted_key_checks_out_until_it_expires(keys: KeyService,
                                                       clock: ManualClock) -> None:
    minted = await keys.mint(ALICE)
    assert minted.user == ALICE.bare
    assert minted.expires_at == clock.now + 3600
    assert await keys.check("alice", minted.key)
    assert await keys.check(f"alice@{HOST}", minted.key)
    assert await keys.check("ALICE", minted.key)  # user names are case-insensitive
    assert not await keys.check("alice", minted.key + "x")
    assert not await keys.check("bob", minted.key)
    clock.now += 3600
    assert not await keys.check("alice", minted.key)


async def test_keys_are_scoped_to_a_host(keys: KeyService) -> None:
    minted = await keys.mint(ALICE)
    assert not await keys.check(f"alice@{OTHER}", minted.key)
    on_other = await keys.mint(Jid.parse(f"alice@{OTHER}"))
    assert await keys.check(f"alice@{OTHER}", on_other.key)
    assert not await keys.check("alice", on_other.key)  # bare names mean the first host


@pytest.mark.parametrize("u", ["alice@unserved.example", "a/b", "alice@", f"{HOST}",
                               f"alice@{HOST}/res", "", "x" * 2000])
async def test_malformed_or_foreign_users_fail(keys: KeyService, u: str) -> None:
    minted = await keys.mint(ALICE)
    assert not await keys.check(u, minted.key)


async def test_only_the_hash_is_stored(keys: KeyService, db: Database) -> None:
    minted = await keys.mint(ALICE)
    async with db.conn.execute("SELECT host, user, key_sha256 FROM user_keys") as cursor:
        rows = [tuple(row) for row in await cursor.fetchall()]
    assert rows == [(HOST, "alice", key_hash(minted.key))]
    assert minted.key not in str(rows)


async def test_old_keys_are_retired(keys: KeyService, clock: ManualClock, db: Database) -> None:
    first = await keys.mint(ALICE)
    for _ in range(KEEP_PER_USER):
        clock.now += 1
        await keys.mint(ALICE)
    assert not await keys.check("alice", first.key)
    async with db.conn.execute("SELECT COUNT(*) FROM user_keys") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    assert row[0] == KEEP_PER_USER


async def test_minting_needs_a_user_of_a_served_domain(keys: KeyService) -> None:
    with pytest.raises(DomainNotServed):
        await keys.mint(Jid.parse("eve@unserved.example/x"))
    with pytest.raises(Forbidden):
        await keys.mint(Jid.parse(HOST))


async def test_external_keys_are_asked_by_user_at_domain(db: Database, clock: ManualClock) -> None:
    redis = FakeRedis({f"bob@{HOST}": {"startalk-key"}})
    keys = KeyService(KeyStore(db), hosts(), ttl=60, external=redis, clock=clock)
    assert await keys.check("bob", "startalk-key")
    assert await keys.check(f"Bob@{HOST}", "startalk-key")
    assert not await keys.check(f"bob@{OTHER}", "startalk-key")
    minted = await keys.mint(ALICE)  # our own keys still work beside Redis
    assert await keys.check("alice", minted.key)
    down = KeyService(KeyStore(db), hosts(), ttl=60, external=FakeRedis({}, down=True),
                      clock=clock)
    with pytest.raises(KeysUnavailable):
        await down.check("bob", "startalk-key")


# -- auth_uk over HTTP ---------------------------------------------------------------------

@pytest.fixture
async def client(keys: KeyService) -> AsyncIterator[ApiClient]:
    users = UserService(NoUsers(), NoUsers(), hosts())
    app = make_pipeline(make_config(), UserRoutes(users, keys, hosts()).routes())
    async with client_for(app) as test_client:
        yield test_client


async def auth_uk(client: ApiClient, query: str, method: str = "GET"
                  ) -> tuple[int, Any]:
    response = await client.request(method, f"/qtalk/auth_uk?{query}")
    return response.status, orjson.loads(await response.read())


async def test_auth_uk_answers(client: ApiClient, keys: KeyService) -> None:
    minted = await keys.mint(ALICE)
    assert await auth_uk(client, f"u=alice&k={minted.key}") == (
        200, {"ret": True, "errcode": 0, "errmsg": "success", "data": ""})
    for method in ("POST", "PUT", "DELETE"):  # any method, as the original
        assert (await auth_uk(client, f"u=alice&k={minted.key}", method))[0] == 200
    status, reply = await auth_uk(client, "u=alice&k=wrong")
    assert (status, reply["ret"], reply["errcode"]) == (401, False, 1011)
    assert reply["errmsg"].startswith("auth fail")
    status, reply = await auth_uk(client, "u=alice")
    assert (status, reply["errcode"]) == (400, 1002)
    assert reply["errmsg"].startswith("k:")
    assert (await auth_uk(client, "k=x"))[0] == 400
