"""A loop pass's requests are committed in that pass (HttpServer.handed_over,
OutboxDelivery.commit_pending): the last connection worker of the pass to park hands over,
the stanzas are flushed and the transaction commits, and the answers leave, all before the
loop's next pass. Left to the end of the pass, every request took a pass more."""

from __future__ import annotations

import asyncio

import pytest

from component.http.envelope import Answer, success
from component.http.listener import HttpServer, ServerLimits
from component.http.messages import MessageRoutes
from component.http.protocol import HttpConnection
from component.http.route import GET, Request, Route
from component.http.server import make_pipeline
from component.services import delivery as delivery_module
from component.services.messages import MessageService
from component.store.db import Database
from tests.unit.fakes import WrittenTransport, hosts
from tests.unit.http_apps import make_config
from tests.unit.test_delivery import FakeLink, ObservedOutbox, message, rows, started
from tests.unit.test_http_tasks import answers_in

LIMITS = ServerLimits(request_timeout=5, idle_timeout=5, max_connections=8)
SEND = b'{"From": "alice", "To": [{"User": "bob"}], "Body": "hello"}'


def connected(server: HttpServer, count: int) -> list[tuple[HttpConnection, WrittenTransport]]:
    pairs = []
    for _ in range(count):
        connection, transport = HttpConnection(server), WrittenTransport()
        connection.connection_made(transport)
        pairs.append((connection, transport))
    return pairs


async def test_the_last_worker_of_a_pass_hands_over_once() -> None:
    """Handed over once per pass, after every handler the pass started; a handler that
    waits does not hold the others' hand-over back, and hands over itself once it ends.
    (When the pass's last worker waits, nobody hands over: the end-of-pass commit,
    OutboxDelivery._commit_soon, covers that pass.)"""
    ran: list[str] = []
    handed_over: list[list[str]] = []
    release = asyncio.Event()

    async def quick(request: Request) -> Answer:
        ran.append("quick")
        return success()

    async def waits(request: Request) -> Answer:
        ran.append("waits")
        await release.wait()
        ran.append("waited")
        return success()

    pipeline = make_pipeline(make_config(), [Route("quick", GET, quick, mutating=False),
                                             Route("waits", GET, waits, mutating=False)])
    server = HttpServer(pipeline, LIMITS, handed_over=lambda: handed_over.append(ran[:]))
    pairs = connected(server, 4)
    pairs[0][0].data_received(b"GET /qtalk/waits HTTP/1.1\r\nHost: api\r\n\r\n")
    for connection, _ in pairs[1:]:
        connection.data_received(b"GET /qtalk/quick HTTP/1.1\r\nHost: api\r\n\r\n")
    assert server.steps_due == 4
    await asyncio.sleep(0)  # the workers' pass
    assert handed_over == [["waits"] + ["quick"] * 3]
    assert server.steps_due == 0

    for connection, _ in pairs[1:3]:  # the next pass's requests: handed over on their own
        connection.data_received(b"GET /qtalk/quick HTTP/1.1\r\nHost: api\r\n\r\n")
    await asyncio.sleep(0)
    assert len(handed_over) == 2
    assert handed_over[1][-2:] == ["quick", "quick"]

    release.set()  # the waiting worker answers and parks: it hands over too
    for _ in range(3):
        await asyncio.sleep(0)
    assert len(handed_over) == 3
    assert handed_over[2][-1] == "waited"
    assert server.steps_due == 0
    for connection, _ in pairs:
        connection.close()
    for _ in range(3):
        await asyncio.sleep(0)
    assert server.steps_due == 0  # the workers woken to end were counted and ran


async def test_a_pass_of_message_requests_is_committed_and_answered_in_that_pass(
        db: Database) -> None:
    """Three send_message requests read in one pass: their handlers run in the next, and in
    that same pass the stanzas are flushed, one transaction commits them, and every answer
    is written (with the commit left to the end of the pass, none would be yet)."""
    link = FakeLink()
    link.go_up()
    outbox = ObservedOutbox(db)
    delivery = await started(link, None, outbox=outbox)
    config = make_config()
    service = MessageService(delivery, hosts(), max_stanza_bytes=config.limits.max_stanza_bytes,
                             carbons=False)
    pipeline = make_pipeline(config, MessageRoutes(service, config.limits).routes(), db=db)
    server = HttpServer(pipeline, LIMITS, handed_over=delivery.commit_pending)
    pairs = connected(server, 3)
    for connection, _ in pairs:
        connection.data_received(
            b"POST /qtalk/send_message HTTP/1.1\r\nHost: api\r\nContent-Length: "
            + str(len(SEND)).encode() + b"\r\n\r\n" + SEND)
    await asyncio.sleep(0)  # one pass: the handlers', and no other
    assert outbox.commits == 1
    assert link.flushed == 3  # every stanza had been written when the link was flushed
    answers = [answers_in(transport.written) for _, transport in pairs]
    assert all(len(answer) == 1 and answer[0].startswith(b"HTTP/1.1 200 OK\r\n")
               and b'"status":"accepted"' in answer[0] for answer in answers), answers
    assert len(await rows(db)) == 3
    for _ in range(3):  # the end-of-pass commit finds nothing left to commit
        await asyncio.sleep(0)
    assert outbox.commits == 1
    await delivery.drain(1)


async def test_commit_pending_flushes_then_commits_on_the_loop(db: Database) -> None:
    link = FakeLink()
    link.go_up()
    outbox = ObservedOutbox(db)
    delivery = await started(link, None, outbox=outbox)
    report = await delivery.deliver([message(1)], deferred=True)
    assert report.pending is not None
    ended: list[tuple[bool, int]] = []
    report.pending.then(lambda committed: ended.append((committed, link.flushed)))
    delivery.commit_pending()
    assert ended == [(True, 1)]  # committed in the call, its stanza flushed before
    assert await rows(db) == ["m1"]
    delivery.commit_pending()  # nothing left: no transaction
    assert outbox.commits == 1
    await delivery.drain(1)


async def test_commit_pending_leaves_to_the_committer_what_needs_the_writer_thread(
        db: Database) -> None:
    """An outbox that cannot commit on the loop (a sync per commit, or its writer thread at
    work) is committed by the committer task, later, and one transaction at a time."""
    link = FakeLink()
    link.go_up()
    outbox = ObservedOutbox(db)
    delivery = await started(link, None, outbox=outbox)
    gate = outbox.hold_commits()
    first = await delivery.deliver([message(1)], deferred=True)
    assert first.pending is not None
    ended: list[str] = []
    first.pending.then(lambda committed: ended.append("m1"))
    delivery.commit_pending()
    assert ended == []  # handed to the committer, which waits at the gate
    await asyncio.sleep(0.01)
    outbox.before_commit = None  # the outbox could commit on the loop now, but the
    second = await delivery.deliver([message(2)], deferred=True)  # committer is at work
    assert second.pending is not None
    second.pending.then(lambda committed: ended.append("m2"))
    delivery.commit_pending()
    assert ended == []
    gate.set()
    for _ in range(50):
        if len(ended) == 2:
            break
        await asyncio.sleep(0.005)
    assert ended == ["m1", "m2"]
    assert await rows(db) == ["m1", "m2"]
    await delivery.drain(1)


async def test_a_failing_hand_over_is_logged_and_the_worker_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise RuntimeError("broken")

    async def quick(request: Request) -> Answer:
        return success()

    pipeline = make_pipeline(make_config(), [Route("quick", GET, quick, mutating=False)])
    server = HttpServer(pipeline, LIMITS, handed_over=broken)
    [(connection, transport)] = connected(server, 1)
    for count in (1, 2):
        connection.data_received(b"GET /qtalk/quick HTTP/1.1\r\nHost: api\r\n\r\n")
        for _ in range(3):
            await asyncio.sleep(0)
        answers = answers_in(transport.written)
        assert len(answers) == count
        assert answers[-1].startswith(b"HTTP/1.1 200 OK\r\n")
    assert caplog.text.count("handing a loop pass's requests over failed") == 2
    assert connection.worker is not None
    assert not connection.worker.done()


async def test_without_an_outbox_a_hand_over_has_nothing_to_commit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an outbox only settled acknowledgements could make work, and they have no
    rows to delete: a hand-over neither flushes the link nor wakes the committer."""
    monkeypatch.setattr(delivery_module, "SETTLE_SECONDS", 0.02)
    link = FakeLink()
    link.go_up()
    delivery = await started(link, None)
    assert (await delivery.deliver([message(1)])).status == "routed"
    for _ in range(50):  # its acknowledgement settles
        if not delivery._settling:
            break
        await asyncio.sleep(0.01)
    assert not delivery._settling
    delivery.commit_pending()
    assert link.flushed == 0
    assert not delivery._commit_wakeup._due
    await delivery.drain(1)
