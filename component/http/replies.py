"""Turning service results into envelopes: one report entry per item of a request."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from component.errors import ErrCode
from component.http.envelope import envelope, failure, success
from component.services.messages import ItemOutcome, SendResult


def item_report(index: int, item: ItemOutcome) -> dict[str, Any]:
    if item.error is not None:
        return {"index": index, "to": item.target, "ok": False,
                "errcode": int(item.error.errcode), "errmsg": item.error.message}
    report: dict[str, Any] = {"index": index, "to": item.target, "ok": True, "id": item.id}
    if item.duplicate_of:
        report |= {"duplicate": True, "status": item.duplicate_of}
    return report


def single_reply(result: SendResult, errmsg: str = "success") -> web.Response:
    """A request that carried one item: its error becomes the whole answer."""
    item = result.items[0]
    if item.error is not None:
        return failure(item.error)
    if item.duplicate_of:
        return success({"id": item.id, "status": item.duplicate_of, "duplicate": True},
                       "success; already accepted before, not sent again")
    return success({"id": item.id, "status": result.status}, errmsg)


def batch_reply(result: SendResult, errmsg: str = "success") -> web.Response:
    """All accepted: 200. None: the first refusal's status. Some: 207, errcode 1."""
    items = [item_report(i, item) for i, item in enumerate(result.items)]
    refused = [item for item in result.items if item.error is not None]
    data = {"status": result.status, "items": items}
    if not refused:
        return success(data, errmsg)
    first = refused[0].error
    assert first is not None
    if len(refused) == len(result.items):
        return envelope(False, first.errcode, f"no item was accepted: {first.message}", data,
                        status=first.http_status)
    return envelope(False, ErrCode.FAILED,
                    f"{len(refused)} of {len(items)} items refused; the others were sent",
                    data, status=207)
