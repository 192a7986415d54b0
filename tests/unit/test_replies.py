"""The answers to requests of many items: the accepted case's shortcut writes the same bytes."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from component.errors import BadField, NoSuchUser
from component.http.replies import batch_reply, reported_reply
from component.services.messages import ItemOutcome, SendResult

# Any text orjson writes: quotes, backslashes, control characters, every plane.
TEXTS = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
ERRORS = st.sampled_from([None, None, None, BadField("To", "must not be empty"),
                          NoSuchUser("no such user")])
OUTCOMES = st.builds(ItemOutcome, target=TEXTS, id=st.none() | TEXTS, error=ERRORS,
                     duplicate_of=st.sampled_from([None, None, None, "routed", "queued"]))
STATUSES = st.sampled_from(["accepted", "routed", "queued", None])


@settings(max_examples=400)
@given(items=st.lists(OUTCOMES, max_size=5), status=STATUSES,
       errmsg=st.sampled_from(["success", "success; send_xml is deprecated"]) | TEXTS)
def test_every_answer_is_the_reports_answer_byte_for_byte(
        items: list[ItemOutcome], status: str | None, errmsg: str) -> None:
    result = SendResult(items, status)  # type: ignore[arg-type]
    assert batch_reply(result, errmsg) == reported_reply(result, errmsg)


@settings(max_examples=200)
@given(targets=st.lists(TEXTS, min_size=1, max_size=200), status=STATUSES)
def test_all_accepted_is_the_reports_answer_at_any_length(
        targets: list[str], status: str | None) -> None:
    result = SendResult([ItemOutcome(target, id=f"id{n}") for n, target in enumerate(targets)],
                        status)  # type: ignore[arg-type]
    shortcut = batch_reply(result)
    assert shortcut == reported_reply(result)
    assert (shortcut.status, shortcut.errcode, type(shortcut.errcode)) == (200, 0, int)
    assert [item["index"] for item in orjson.loads(shortcut.body)["data"]["items"]] == \
        list(range(len(targets)))


def test_text_orjson_refuses_is_refused_the_same_way() -> None:
    result = SendResult([ItemOutcome("\ud800", id="a")], "accepted")
    with pytest.raises(orjson.JSONEncodeError):
        reported_reply(result)
    with pytest.raises(orjson.JSONEncodeError):
        batch_reply(result)
