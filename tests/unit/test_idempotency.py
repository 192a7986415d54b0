"""Idempotency-Key: a retry gets the first answer and sends nothing again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from component.errors import LinkDown
from component.services.ports import DeliveryReport
from component.store.db import Database
from component.store.idempotency import IdempotencyStore, StoredAnswer
from component.xmpp.stanza_values import Stanza
from tests.unit.fakes import HOST, RecordingSink
from tests.unit.http_apps import ApiClient, bearer, client_for, integrator, make_config, message_app

CHAT = {"From": "alice", "To": [{"User": "bob"}], "Body": "once"}


class GatedSink(RecordingSink):
    """Holds every delivery until the test opens the gate: lets requests overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.deliveries = 0

    async def deliver(self, stanzas: Sequence[Stanza], *, wait: float | None = None,
                      remember: Sequence[str] = (), deferred: bool = False) -> DeliveryReport:
        self.deliveries += 1
        self.entered.set()
        await self.gate.wait()
        return await super().deliver(stanzas, wait=wait, remember=remember)


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def client(db: Database, sink: RecordingSink) -> AsyncIterator[ApiClient]:
    async with client_for(message_app(make_config(), sink, db)) as test_client:
        yield test_client


async def post(client: ApiClient, body: Any, key: str | None,
               path: str = "send_message", **headers: str) -> tuple[int, bytes, Any]:
    if key is not None:
        headers["Idempotency-Key"] = key
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    response = await client.post(f"/qtalk/{path}", data=raw, headers=headers)
    return response.status, await response.read(), response.headers


async def test_a_retry_gets_the_first_answer_and_sends_nothing(
        client: ApiClient, sink: RecordingSink) -> None:
    first = await post(client, CHAT, "k-1")
    again = await post(client, CHAT, "k-1")
    assert first[0] == again[0] == 200
    assert first[1] == again[1]  # same stanza ids: the same answer, not a new send
    assert len(sink.sent) == 2  # one message and its carbon, once
    assert again[2]["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first[2]
    await post(client, CHAT, "k-2")
    await post(client, CHAT, None)
    assert len(sink.sent) == 6


async def test_same_key_other_body_is_409(client: ApiClient,
                                          sink: RecordingSink) -> None:
    await post(client, CHAT, "k")
    status, raw, _ = await post(client, {**CHAT, "Body": "twice"}, "k")
    reply = orjson.loads(raw)
    assert (status, reply["errcode"]) == (409, 1009)
    assert "Idempotency-Key" in reply["errmsg"]
    assert len(sink.sent) == 2


async def test_keys_are_per_endpoint(client: ApiClient, sink: RecordingSink) -> None:
    notify = {"from": f"alice@{HOST}", "to": f"bob@{HOST}", "category": "1"}
    assert (await post(client, CHAT, "k"))[0] == 200
    assert (await post(client, notify, "k", "send_notify"))[0] == 200
    assert (await post(client, CHAT, "k", "send_message/"))[2]["Idempotent-Replayed"] == "true"
    assert len(sink.sent) == 3


async def test_keys_are_per_integrator(db: Database) -> None:
    sink = RecordingSink()
    config = make_config(integrators=[integrator("a", "token-a"), integrator("b", "token-b")])
    async with client_for(message_app(config, sink, db)) as client:
        for token in ("token-a", "token-b", "token-a"):
            assert (await post(client, CHAT, "shared", **bearer(token)))[0] == 200
    assert len(sink.sent) == 4


async def test_concurrent_duplicates_wait_for_the_first(db: Database) -> None:
    sink = GatedSink()
    async with client_for(message_app(make_config(), sink, db)) as client:
        calls = [asyncio.create_task(post(client, CHAT, "k")) for _ in range(3)]
        await asyncio.wait_for(sink.entered.wait(), 5)
        await asyncio.sleep(0.2)  # the duplicates arrive meanwhile, and must wait
        assert sink.deliveries == 1
        sink.gate.set()
        answers = await asyncio.gather(*calls)
    assert {status for status, _, _ in answers} == {200}
    assert len({raw for _, raw, _ in answers}) == 1
    assert sink.deliveries == 1


async def test_refusals_are_kept_but_5xx_are_not(db: Database) -> None:
    sink = RecordingSink(failure=LinkDown("the component link is down"))
    async with client_for(message_app(make_config(), sink, db)) as client:
        assert (await post(client, b"{nope", "bad"))[0] == 400
        replay = await post(client, b"{nope", "bad")
        assert (replay[0], replay[2]["Idempotent-Replayed"]) == (400, "true")
        assert (await post(client, CHAT, "down"))[0] == 503
        sink.failure = None
        status, _, headers = await post(client, CHAT, "down")
    assert (status, "Idempotent-Replayed" in headers) == (200, False)
    assert len(sink.sent) == 2


async def test_the_200_switch_applies_to_replays(db: Database) -> None:
    async with client_for(message_app(make_config(http={"always_200": True}),
                                      RecordingSink(), db)) as client:
        await post(client, {"From": "alice"}, "k")
        status, raw, headers = await post(client, {"From": "alice"}, "k")
    assert (status, orjson.loads(raw)["ret"], headers["Idempotent-Replayed"]) == \
        (200, False, "true")


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\tinside", "ключ"])
async def test_malformed_keys_are_400(client: ApiClient, sink: RecordingSink,
                                      key: str) -> None:
    status, raw, _ = await post(client, CHAT, key)
    assert (status, orjson.loads(raw)["errcode"]) == (400, 1002)
    assert sink.sent == []


async def test_the_quoted_form_of_the_draft_is_the_same_key(
        client: ApiClient, sink: RecordingSink) -> None:
    await post(client, CHAT, '"abc"')
    assert (await post(client, CHAT, "abc"))[2]["Idempotent-Replayed"] == "true"
    assert len(sink.sent) == 2


async def test_keys_survive_a_restart(tmp_path: Path) -> None:
    sink = RecordingSink()
    for _ in range(2):
        database = await Database.open(tmp_path / "store.db")
        async with client_for(message_app(make_config(), sink, database)) as client:
            await post(client, CHAT, "k")
        await database.close()
    assert len(sink.sent) == 2


async def test_store_expires_and_prunes(db: Database) -> None:
    now = [1000.0]
    store = IdempotencyStore(db, ttl=60, clock=lambda: now[0])
    answer = StoredAnswer(200, b"{}", "ab" * 32)
    await store.put("a", answer)
    now[0] += 30
    await store.put("b", answer)
    assert await store.claim("a") == answer
    now[0] += 45
    assert await store.claim("a") is None  # expired, even before pruning
    assert await store.prune() == 1
    assert await store.claim("b") == answer
    await store.put("a", StoredAnswer(201, b"[]", "cd" * 32))  # an expired key is free again
    assert (await store.claim("a")) == StoredAnswer(201, b"[]", "cd" * 32)
