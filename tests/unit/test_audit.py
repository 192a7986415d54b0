"""The audit line of every mutating call, and the request id on every answer."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from component.http import audit
from component.log_lines import one_line
from component.logs import JsonFormatter, LineHandler
from component.store.db import Database
from tests.unit.fakes import HOST, RecordingSink
from tests.unit.http_apps import ApiClient, bearer, client_for, integrator, make_config, message_app

TOKEN = "audit-token-123456"


@pytest.fixture
async def client(db: Database) -> AsyncIterator[ApiClient]:
    config = make_config(integrators=[integrator("hr", TOKEN, hosts=[HOST])],
                         http={"always_200": True})
    async with client_for(message_app(config, RecordingSink(), db)) as test_client:
        yield test_client


class Lines:
    """The audit records of the test so far."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    @property
    def records(self) -> list[logging.LogRecord]:
        return [r for r in self.caplog.records if r.name == "component.audit"]

    @property
    def fields(self) -> list[dict[str, Any]]:
        return [record.fields for record in self.records]  # type: ignore[attr-defined]

    def last_text(self) -> str:
        return self.records[-1].getMessage()


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Lines:
    caplog.set_level(logging.INFO, logger="component.audit")
    return Lines(caplog)


async def call(client: ApiClient, path: str, body: Any,
               **headers: str) -> tuple[Any, Any]:
    response = await client.post(f"/qtalk/{path}", data=orjson.dumps(body), headers=headers)
    return orjson.loads(await response.read()), response.headers


async def test_one_line_with_who_for_whom_what_and_outcome(
        client: ApiClient, lines: Lines) -> None:
    reply, headers = await call(client, "send_message", {
        "From": "alice", "To": [{"User": "bob"}, {"User": "carol"}], "Body": "hi"},
        **bearer(TOKEN))
    (line,) = lines.fields
    assert line["integrator"] == "hr"
    assert line["endpoint"] == "send_message"
    assert line["acting_as"] == [f"alice@{HOST}"]
    assert line["targets"] == ["bob", "carol"]
    assert line["stanza_ids"] == [item["id"] for item in reply["data"]["items"]]
    assert (line["status"], line["errcode"]) == (200, 0)
    assert line["request_id"] == headers["X-Request-Id"]
    assert line["remote"] == "127.0.0.1"
    text = lines.last_text()
    assert text.startswith(f"request_id={headers['X-Request-Id']} integrator=hr ")
    assert "status=200 errcode=0" in text


async def test_refusals_are_audited_with_their_real_status(
        client: ApiClient, lines: Lines) -> None:
    await call(client, "send_message", {"From": "alice"})  # no token
    await call(client, "send_message", {"From": "alice", "To": [{"User": "bob"}], "Body": "x",
                                        "Host": "other.test.org"}, **bearer(TOKEN))
    await call(client, "send_notify", {"from": 5}, **bearer(TOKEN))
    first, second, third = lines.fields
    assert (first["integrator"], first["status"], first["errcode"]) == ("-", 401, 1401)
    assert (second["status"], second["errcode"]) == (403, 1403)  # not the 200 of the switch
    assert second["acting_as"] == ["alice@other.test.org"]
    assert (third["status"], third["errcode"]) == (400, 1002)


async def test_replays_and_batches(client: ApiClient,
                                   lines: Lines) -> None:
    items = [{"from": f"alice@{HOST}", "to": f"bob@{HOST}",
              "message": "<message><body>1</body></message>"},
             {"from": f"carol@{HOST}", "to": "nobody@evil.org", "message": "<message/>"}]
    for _ in range(2):
        await call(client, "send_thirdmessage", items, **bearer(TOKEN),
                   **{"Idempotency-Key": "k1"})
    first, replay = lines.fields
    assert first["acting_as"] == [f"alice@{HOST}", f"carol@{HOST}"]
    assert first["targets"] == [f"bob@{HOST}", "nobody@evil.org"]
    assert len(first["stanza_ids"]) == 1
    assert (first["status"], first["errcode"]) == (207, 1)
    assert (replay["replayed"], replay["status"], replay["errcode"]) == (True, 207, 1)
    assert "stanza_ids" not in replay or replay["stanza_ids"] == []


async def test_probes_and_unknown_paths_are_not_audited(
        client: ApiClient, lines: Lines) -> None:
    await client.get("/healthz")
    await client.post("/qtalk/nothing", headers=bearer(TOKEN))
    assert lines.fields == []


async def test_request_ids_are_echoed_or_made(client: ApiClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    for insane in ("a b", "x" * 129, "<script>"):
        response = await client.post("/qtalk/send_message", headers={"X-Request-Id": insane})
        made = response.headers["X-Request-Id"]
        assert made != insane
        assert len(made) == 16
    response = await client.post("/qtalk/nothing")
    assert response.headers["X-Request-Id"]


async def test_the_access_line_carries_the_request_id(
        client: ApiClient, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 14: the access line once read the id from a key nothing wrote: always empty."""
    caplog.set_level(logging.INFO, logger="component.http.access")
    given = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    made = await client.get("/healthz")
    access = [record.fields for record in caplog.records  # type: ignore[attr-defined]
              if record.name == "component.http.access"]
    assert [line["request_id"] for line in access] == [
        given.headers["X-Request-Id"], made.headers["X-Request-Id"]]
    assert access[0]["request_id"] == "abc-123"
    assert len(access[1]["request_id"]) == 16


async def test_caller_text_cannot_forge_a_line(client: ApiClient,
                                               lines: Lines) -> None:
    await call(client, "send_thirdmessage", {
        "from": f"alice@{HOST}", "to": "x\nstatus=200 integrator=root",
        "message": "<message/>"}, **bearer(TOKEN))
    text = lines.last_text()
    assert "\n" not in text
    assert 'targets=["x\\nstatus=200 integrator=root"]' in text


async def test_json_log_lines_carry_the_fields(client: ApiClient,
                                               lines: Lines) -> None:
    await call(client, "send_notify", {"from": f"alice@{HOST}", "to": f"bob@{HOST}",
                                       "category": "1"}, **bearer(TOKEN))
    entry = orjson.loads(JsonFormatter().format(lines.records[-1]))
    assert entry["logger"] == "component.audit"
    assert (entry["integrator"], entry["endpoint"], entry["status"]) == \
        ("hr", "send_notify", 200)
    assert entry["targets"] == [f"bob@{HOST}"]


FORGERIES = ["x stanza_ids=y", "x\nINFO component.audit: request_id=FORGED", "a,b", "", "c\x85d",
             "e\u2028f", "{jid}"]


@pytest.mark.parametrize("forged", FORGERIES)
def test_the_direct_line_quotes_what_is_not_plain(
        forged: str, caplog: pytest.LogCaptureFixture) -> None:
    """The line LineHandler writes itself (no pytest capture in the way) is the line
    `logging` gets: the one test of all values at once lets nothing through raw."""
    facts = audit.Facts()
    audit.add_facts(facts, acting_as=forged, targets=[forged, "t"], stanza_ids=["s1", forged])
    caplog.set_level(logging.INFO, logger="component.audit")
    audit.write_line("r1", forged, forged, forged, facts, 200, 0, 0.0)
    through_logging = f"INFO component.audit: {caplog.records[-1].getMessage()}"
    stream = io.StringIO()
    handler = LineHandler(stream, json=False)
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = [handler]
    try:
        audit.write_line("r1", forged, forged, forged, facts, 200, 0, 0.0)
    finally:
        root.handlers[:] = saved
    assert stream.getvalue() == one_line(through_logging) + "\n"
    assert stream.getvalue().splitlines() == [stream.getvalue()[:-1]]


def test_a_plain_line_is_written_as_it_is(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="component.audit")
    facts = audit.Facts()
    audit.add_facts(facts, acting_as="alice@h")
    audit.add_facts(facts, targets=["bob", "carol"], stanza_ids=[None, "s1"])
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = [LineHandler(stream, json=False)]
    try:
        audit.write_line("r1", "hr", None, "send_message", facts, 207, 1, 0.00125)
    finally:
        root.handlers[:] = saved
    assert stream.getvalue() == (
        "INFO component.audit: request_id=r1 integrator=hr remote=- endpoint=send_message "
        "acting_as=alice@h targets=bob,carol stanza_ids=s1 status=207 errcode=1 ms=1.2\n")


def test_facts_keep_the_line_order_whoever_adds_them() -> None:
    """Users named by the first facts lead the line; named later, they come after the
    targets and stanza ids, among the other facts; each list keeps its first order."""
    first = audit.Facts()
    first.act_as("alice@h")
    audit.add_facts(first, acting_as=["bob@h", "alice@h"], targets=["t1"], stanza_ids=[None])
    first.add(["t2"], ["s2"])
    assert first.fields() == {"acting_as": ["alice@h", "bob@h"], "targets": ["t1", "t2"],
                              "stanza_ids": ["s2"]}
    later = audit.Facts()
    audit.add_facts(later, targets=["room"], replayed=True)
    later.act_as("carol@h")
    audit.add_facts(later, acting_as=["dave@h", "carol@h"], count=2)
    assert later.fields() == {"targets": ["room"], "stanza_ids": [], "replayed": True,
                              "acting_as": ["carol@h", "dave@h"], "count": 2}
    assert list(later.fields()) == ["targets", "stanza_ids", "replayed", "acting_as", "count"]


@pytest.mark.parametrize(("seconds", "ms"), [
    (0.0, "0.0"), (0.00125, "1.2"), (0.0999, "99.9"), (0.09996, "100.0"),
    (0.12346, "123.5"), (61.0, "61000.0")])
def test_the_milliseconds_are_written_to_a_tenth_in_both_formats(
        seconds: float, ms: str, caplog: pytest.LogCaptureFixture) -> None:
    """From the table up to 99.9 ms, made beyond it; the JSON line holds the same number."""
    caplog.set_level(logging.INFO, logger="component.audit")
    facts = audit.Facts()
    audit.add_facts(facts, targets=["bob"], stanza_ids=["s1"])
    for json in (False, True):
        stream = io.StringIO()
        root = logging.getLogger()
        saved = root.handlers[:]
        root.handlers[:] = [LineHandler(stream, json=json)]
        try:
            audit.write_line("r1", "hr", None, "send_message", facts, 200, 0, seconds)
        finally:
            root.handlers[:] = saved
        if json:
            assert orjson.loads(stream.getvalue())["ms"] == float(ms)
        else:
            assert stream.getvalue().endswith(f" ms={ms}\n")


def test_made_request_ids_are_16_hex_digits_and_differ() -> None:
    """Drawn 256 at a time: past several draws, none repeats and each has its 16 digits."""
    made = [audit.new_request_id() for _ in range(1000)]
    assert len(set(made)) == len(made)
    assert all(re.fullmatch("[0-9a-f]{16}", rid) for rid in made)
