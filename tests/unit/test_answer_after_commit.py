"""A message request is answered once its outbox transaction has ended, without waiting for
it in the handler (`deliver(deferred=True)`, `Answer.after`, HttpConnection._committed): held
while the commit is held, accepted once committed, a 500 when the commit fails. A real
server on a loopback port, the real delivery over a real SQLite outbox, a fake link."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from component.errors import InternalError
from component.http.messages import MessageRoutes
from component.http.server import make_pipeline
from component.services.delivery import OutboxDelivery
from component.services.messages import MessageService
from component.store.db import Database
from tests.unit.fakes import hosts
from tests.unit.http_apps import ApiClient, make_config
from tests.unit.test_delivery import FakeLink, ObservedOutbox, started

SEND = {"From": "alice", "To": [{"User": "bob"}], "Body": "hello"}


class Gate:
    """Holds each commit until opened; or makes it fail."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.fail = False

    async def __call__(self) -> None:
        await self.open.wait()
        if self.fail:
            raise OSError("disk full")


@pytest.fixture
async def served(db: Database) -> AsyncIterator[tuple[ApiClient, Gate, FakeLink,
                                                      OutboxDelivery]]:
    link = FakeLink()
    link.go_up()
    outbox = ObservedOutbox(db)
    gate = Gate()
    delivery = await started(link, None, outbox=outbox)
    outbox.before_commit = gate
    config = make_config()
    service = MessageService(delivery, hosts(), max_stanza_bytes=config.limits.max_stanza_bytes)
    pipeline = make_pipeline(config, MessageRoutes(service, config.limits).routes(), db=db)
    async with ApiClient(pipeline) as client:
        yield client, gate, link, delivery
    gate.open.set()
    await delivery.drain(1.0)


async def _answer(client: ApiClient, headers: dict[str, str] | None = None
                  ) -> tuple[int, dict[str, object]]:
    async with client.post("/qtalk/send_message", json=SEND, headers=headers) as reply:
        return reply.status, await reply.json()


@pytest.mark.parametrize("headers", [None, {"Idempotency-Key": "k1"}])
async def test_the_answer_waits_for_the_commit(
        served: tuple[ApiClient, Gate, FakeLink, OutboxDelivery],
        headers: dict[str, str] | None) -> None:
    client, gate, link, _ = served
    answer = asyncio.ensure_future(_answer(client, headers))
    for _ in range(50):  # the stanza is written ahead of its transaction
        await asyncio.sleep(0.005)
    assert [stanza.durable for stanza in link.written] == [True, False]  # and its carbon
    assert not answer.done()  # held with the transaction
    gate.open.set()
    status, body = await asyncio.wait_for(answer, 5)
    assert status == 200
    assert body["data"]["status"] == "accepted"  # type: ignore[index]


@pytest.mark.parametrize("headers", [None, {"Idempotency-Key": "k2"}])
async def test_a_failed_commit_is_a_500(
        served: tuple[ApiClient, Gate, FakeLink, OutboxDelivery],
        headers: dict[str, str] | None) -> None:
    client, gate, _, _ = served
    gate.fail = True
    gate.open.set()
    status, body = await asyncio.wait_for(_answer(client, headers), 5)
    assert status == 500
    assert body["ret"] is False
    assert body["errmsg"] == "the outbox could not be written"
    assert body["errcode"] == InternalError.errcode
