"""Turning service results into envelopes: one report entry per item of a request."""

from __future__ import annotations

from typing import Any

from component.errors import ErrCode
from component.http.envelope import Answer, answer, failure_answer
from component.services.messages import ItemOutcome, SendResult

SUCCESS = ErrCode.SUCCESS  # looked up once: an enum member's lookup costs ~0.07 us


def item_report(index: int, item: ItemOutcome) -> dict[str, Any]:
    if item.error is not None:
        return {"index": index, "to": item.target, "ok": False,
                "errcode": int(item.error.errcode), "errmsg": item.error.message}
    report: dict[str, Any] = {"index": index, "to": item.target, "ok": True, "id": item.id}
    if item.duplicate_of:
        report |= {"duplicate": True, "status": item.duplicate_of}
    return report


def single_reply(result: SendResult, errmsg: str = "success") -> Answer:
    """A request that carried one item: its error becomes the whole answer."""
    item = result.items[0]
    if item.error is not None:
        return failure_answer(item.error)
    if item.duplicate_of:
        return answer(True, SUCCESS, "success; already accepted before, not sent again",
                      {"id": item.id, "status": item.duplicate_of, "duplicate": True})
    return answer(True, SUCCESS, errmsg, {"id": item.id, "status": result.status})


def batch_reply(result: SendResult, errmsg: str = "success") -> Answer:
    """All accepted: 200. None: the first refusal's status. Some: 207, errcode 1."""
    items = [item_report(i, item) for i, item in enumerate(result.items)]
    refused = [item for item in result.items if item.error is not None]
    data = {"status": result.status, "items": items}
    if not refused:
        return answer(True, SUCCESS, errmsg, data)
    first = refused[0].error
    assert first is not None
    if len(refused) == len(result.items):
        return answer(False, first.errcode, f"no item was accepted: {first.message}", data,
                      status=first.http_status)
    return answer(False, ErrCode.FAILED,
                  f"{len(refused)} of {len(items)} items refused; the others were sent",
                  data, status=207)
