"""Turning service results into envelopes: one report entry per item of a request."""

from __future__ import annotations

from typing import Any, Final

from component.errors import ApiError, ErrCode
from component.http.envelope import Answer, answer, failure_answer
from component.services.messages import SendResult

SUCCESS: Final = ErrCode.SUCCESS  # looked up once: an enum member's lookup costs ~0.07 us


def single_reply(result: SendResult, errmsg: str = "success") -> Answer:
    """A request that carried one item: its error becomes the whole answer."""
    item = result.items[0]
    if item.error is not None:
        return failure_answer(item.error)
    if item.duplicate_of:
        return answer(True, SUCCESS, "success; already accepted before, not sent again",
                      {"id": item.id, "status": item.duplicate_of, "duplicate": True},
                      after=result.pending)
    return answer(True, SUCCESS, errmsg, {"id": item.id, "status": result.status},
                  after=result.pending)


def batch_reply(result: SendResult, errmsg: str = "success") -> Answer:
    """All accepted: 200. None: the first refusal's status. Some: 207, errcode 1.

    One pass makes each item's report and finds the refusals (a call per item and a second
    pass for them cost a fifth of the answer for one item); an item's index is the number
    of reports before it (an `enumerate` costs its object and a tuple per item)."""
    reports: list[dict[str, Any]] = []
    first: ApiError | None = None
    refused = 0
    for item in result.items:
        error = item.error
        if error is None:
            report: dict[str, Any] = {"index": len(reports), "to": item.target, "ok": True,
                                      "id": item.id}
            if item.duplicate_of:
                report |= {"duplicate": True, "status": item.duplicate_of}
        else:
            report = {"index": len(reports), "to": item.target, "ok": False,
                      "errcode": int(error.errcode), "errmsg": error.message}
            refused += 1
            first = first or error
        reports.append(report)
    data = {"status": result.status, "items": reports}
    if first is None:
        return answer(True, SUCCESS, errmsg, data, after=result.pending)
    if refused == len(reports):
        return answer(False, first.errcode, f"no item was accepted: {first.message}", data,
                      status=first.http_status)
    return answer(False, ErrCode.FAILED,
                  f"{refused} of {len(reports)} items refused; the others were sent",
                  data, status=207, after=result.pending)
