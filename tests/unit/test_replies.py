"""The answers to requests of many items, for any mix of accepted, refused and repeated items."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from component.errors import BadField, LinkDown, NoSuchUser
from component.http.envelope import JSON_CONTENT_TYPE, Answer, failure_answer
from component.http.replies import batch_reply, single_reply
from component.services.messages import ItemOutcome, SendResult

# Any text orjson writes: quotes, backslashes, control characters, every plane.
TEXTS = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
ERRORS = st.sampled_from([None, None, None, BadField("To", "must not be empty"),
                          NoSuchUser("no such user")])
OUTCOMES = st.builds(ItemOutcome, target=TEXTS, id=st.none() | TEXTS, error=ERRORS,
                     duplicate_of=st.sampled_from([None, None, None, "routed", "queued"]))
STATUSES = st.sampled_from(["accepted", "routed", "queued", None])


def expected_report(index: int, item: ItemOutcome) -> dict[str, Any]:
    """An item's report as README's "Answers" describes it."""
    if item.error is not None:
        return {"index": index, "to": item.target, "ok": False,
                "errcode": int(item.error.errcode), "errmsg": item.error.message}
    report = {"index": index, "to": item.target, "ok": True, "id": item.id}
    if item.duplicate_of:
        report |= {"duplicate": True, "status": item.duplicate_of}
    return report


@settings(max_examples=400)
@given(items=st.lists(OUTCOMES, min_size=1, max_size=6), status=STATUSES,
       errmsg=st.sampled_from(["success", "success; send_xml is deprecated"]) | TEXTS)
def test_every_item_is_reported_in_place_and_the_refusals_set_the_status(
        items: list[ItemOutcome], status: str | None, errmsg: str) -> None:
    answer = batch_reply(SendResult(items, status), errmsg)  # type: ignore[arg-type]
    envelope = orjson.loads(answer.body)
    reports = [expected_report(index, item) for index, item in enumerate(items)]
    assert envelope["data"] == {"status": status, "items": reports}
    refused = [item.error for item in items if item.error is not None]
    if not refused:
        assert (answer.status, answer.errcode, envelope["ret"], envelope["errmsg"]) == \
            (200, 0, True, errmsg)
    elif len(refused) == len(items):
        assert (answer.status, answer.errcode, envelope["ret"]) == \
            (refused[0].http_status, int(refused[0].errcode), False)
        assert envelope["errmsg"] == f"no item was accepted: {refused[0].message}"
    else:
        assert (answer.status, answer.errcode, envelope["ret"]) == (207, 1, False)
        assert envelope["errmsg"] == \
            f"{len(refused)} of {len(items)} items refused; the others were sent"
    assert envelope["errcode"] == answer.errcode


def test_many_accepted_items_keep_their_order() -> None:
    items = [ItemOutcome(f"user{n}", id=f"id{n}") for n in range(300)]
    envelope = orjson.loads(batch_reply(SendResult(items, "accepted")).body)
    assert [(r["index"], r["to"], r["id"]) for r in envelope["data"]["items"]] == \
        [(n, f"user{n}", f"id{n}") for n in range(300)]


def test_the_answer_bytes_are_pinned() -> None:
    """Key order and spacing as callers have seen them (the test above compares values)."""
    items = [ItemOutcome("bob", id="m1"), ItemOutcome("carol", id="m0", duplicate_of="queued"),
             ItemOutcome("", error=BadField("To", "must not be empty"))]
    assert batch_reply(SendResult(items[:1], "routed")).body == (
        b'{"ret":true,"errcode":0,"errmsg":"success","data":{"status":"routed","items":'
        b'[{"index":0,"to":"bob","ok":true,"id":"m1"}]}}')
    assert batch_reply(SendResult(items, "routed")).body == (
        b'{"ret":false,"errcode":1,"errmsg":"1 of 3 items refused; the others were sent",'
        b'"data":{"status":"routed","items":[{"index":0,"to":"bob","ok":true,"id":"m1"},'
        b'{"index":1,"to":"carol","ok":true,"id":"m0","duplicate":true,"status":"queued"},'
        b'{"index":2,"to":"","ok":false,"errcode":1002,"errmsg":"To: must not be empty"}]}}')


def fields(answer: Answer) -> tuple[int, int, bytes, dict[str, str] | None]:
    assert (answer.content_type, answer.after) == (JSON_CONTENT_TYPE, None)
    return answer.status, answer.errcode, answer.body, answer.headers


def test_single_answers_and_refusals_are_pinned() -> None:
    """The errcode is an exact int in the answer and its body (the audit line writes it)."""
    accepted = single_reply(SendResult([ItemOutcome("bob", id="m1")], "routed"))
    assert fields(accepted) == (200, 0, b'{"ret":true,"errcode":0,"errmsg":"success","data":'
                                         b'{"id":"m1","status":"routed"}}', None)
    refused = failure_answer(LinkDown("the link is down"))
    assert fields(refused) == (503, 2001, b'{"ret":false,"errcode":2001,"errmsg":'
                                          b'"the link is down","data":""}', {"Retry-After": "5"})
    assert (type(accepted.errcode), type(refused.errcode)) == (int, int)
