"""The one answer shape: `{"ret", "errcode", "errmsg", "data"}` (DESIGN.md §7).

An `Answer` is what every handler returns and the pipeline finishes: a status, the errcode
it carries (for the audit line), the encoded body and any headers of its own. The HTTP
server (component/http/protocol.py) writes it.
"""

from __future__ import annotations

from operator import index
from typing import Any

import msgspec
import orjson

from component.errors import ApiError, ErrCode, InternalError

JSON_TYPE = "application/json"
JSON_CONTENT_TYPE = f"{JSON_TYPE}; charset=utf-8"
# Every 503 (link down, outbox full, key backend or readiness) says when to come back: the
# link's reconnects back off to at most xmpp.reconnect_max_delay, 5 s by default.
RETRY_AFTER_SECONDS = 5


class Answer(msgspec.Struct, frozen=True, gc=False):
    """Untracked by the cycle collector (`gc=False`): numbers, bytes and a dict of strings,
    which cannot lead back to it, and every request makes one."""

    status: int
    errcode: int
    body: bytes
    headers: dict[str, str] | None = None
    content_type: str = JSON_CONTENT_TYPE

    def with_status(self, status: int) -> Answer:
        return Answer(status, self.errcode, self.body, self.headers, self.content_type)

    def with_headers(self, headers: dict[str, str]) -> Answer:
        return Answer(self.status, self.errcode, self.body, {**(self.headers or {}), **headers},
                      self.content_type)


def answer(ret: bool, errcode: int, errmsg: str, data: Any, *, status: int = 200,
           headers: dict[str, str] | None = None) -> Answer:
    code = index(errcode)  # an ErrCode's exact int, once: int() is a type call (0.3k more)
    body = orjson.dumps({"ret": ret, "errcode": code, "errmsg": errmsg, "data": data})
    if status == 503 and not (headers and "Retry-After" in headers):
        headers = {**(headers or {}), "Retry-After": str(RETRY_AFTER_SECONDS)}
    return Answer(status, code, body, headers)


def success(data: Any = "", errmsg: str = "success", *, status: int = 200,
            errcode: int = ErrCode.SUCCESS, ret: bool = True) -> Answer:
    return answer(ret, errcode, errmsg, data, status=status)


def failure_answer(error: ApiError) -> Answer:
    data = error.data if error.data is not None else ""
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    return answer(False, error.errcode, error.message, data, status=error.http_status,
                  headers=headers)


def unexpected_answer() -> Answer:
    """The answer to an exception no handler expected (logged by whoever caught it)."""
    return failure_answer(InternalError("internal error; see the daemon's log"))
