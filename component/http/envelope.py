"""The one answer shape: `{"ret", "errcode", "errmsg", "data"}` (DESIGN.md §7).

An `Answer` is what every handler returns and the pipeline finishes: a status, the errcode
it carries (for the audit line), the encoded body and any headers of its own. The HTTP
server (component/http/protocol.py) writes it.
"""

from __future__ import annotations

import asyncio
from operator import index
from typing import Any, Final

import orjson

from component.errors import OUTBOX_FAILED, ApiError, ErrCode, InternalError
from component.services.ports import PendingCommit

JSON_TYPE: Final = "application/json"
JSON_CONTENT_TYPE: Final = f"{JSON_TYPE}; charset=utf-8"
# Every 503 (link down, outbox full, key backend or readiness) says when to come back: the
# link's reconnects back off to at most xmpp.reconnect_max_delay, 5 s by default.
RETRY_AFTER_SECONDS: Final = 5


class Answer:
    """Every request makes one; the pending transaction (`after`), which can lead back to it
    through the callback that writes it, drops its callbacks once it ends. A plain class with
    Final fields, not a msgspec Struct or a dataclass (setup.py says why)."""

    def __init__(self, status: int, errcode: int, body: bytes,
                 headers: dict[str, str] | None = None, content_type: str = JSON_CONTENT_TYPE,
                 after: PendingCommit | None = None) -> None:
        self.status: Final = status
        self.errcode: Final = errcode
        self.body: Final = body
        self.headers: Final = headers
        self.content_type: Final = content_type
        # The outbox transaction the answer's messages joined, not ended yet: the answer
        # holds once it is committed and leaves no sooner (`after_commit`); None: it holds now.
        self.after: Final = after

    def with_status(self, status: int) -> Answer:
        return Answer(status, self.errcode, self.body, self.headers, self.content_type,
                      self.after)

    def with_headers(self, headers: dict[str, str]) -> Answer:
        return Answer(self.status, self.errcode, self.body, {**(self.headers or {}), **headers},
                      self.content_type, self.after)


def answer(ret: bool, errcode: int, errmsg: str, data: Any, *, status: int = 200,
           headers: dict[str, str] | None = None, after: PendingCommit | None = None
           ) -> Answer:
    code = index(errcode)  # an ErrCode's exact int, once: int() is a type call (0.3k more)
    body = orjson.dumps({"ret": ret, "errcode": code, "errmsg": errmsg, "data": data})
    if status == 503 and not (headers and "Retry-After" in headers):
        headers = {**(headers or {}), "Retry-After": str(RETRY_AFTER_SECONDS)}
    return Answer(status, code, body, headers, after=after)


def success(data: Any = "", errmsg: str = "success", *, status: int = 200,
            errcode: int = ErrCode.SUCCESS, ret: bool = True) -> Answer:
    return answer(ret, errcode, errmsg, data, status=status)


def failure_answer(error: ApiError) -> Answer:
    data = error.data if error.data is not None else ""
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    return answer(False, error.errcode, error.message, data, status=error.http_status,
                  headers=headers)


def after_commit(reply: Answer, committed: bool) -> Answer:
    """What `reply` becomes once its transaction has ended: itself, or a 500 when the
    outbox could not be written (the caller retries; the messages may arrive twice)."""
    return reply if committed else failure_answer(InternalError(OUTBOX_FAILED))


async def settled(reply: Answer) -> Answer:
    """`reply` once its transaction has ended, for callers that keep answers (idempotency)."""
    if reply.after is None:
        return reply
    ended: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def end(committed: bool) -> None:
        if not ended.done():  # else its waiter was canceled
            ended.set_result(committed)

    reply.after.then(end)
    ended_reply = after_commit(reply, await ended)
    return Answer(ended_reply.status, ended_reply.errcode, ended_reply.body, ended_reply.headers,
                  ended_reply.content_type)


def unexpected_answer() -> Answer:
    """The answer to an exception no handler expected (logged by whoever caught it)."""
    return failure_answer(InternalError("internal error; see the daemon's log"))
