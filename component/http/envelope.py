"""The one answer shape: `{"ret", "errcode", "errmsg", "data"}` (DESIGN.md §7).

An `Answer` is that envelope encoded, with its status and headers, before it becomes an
aiohttp response or is written by the fast lane (component/http/fastlane.py) itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from component.errors import ApiError, ErrCode, InternalError

JSON_TYPE = "application/json"
ERRCODE_KEY = web.ResponseKey("qtalk_errcode", int)  # kept on the response, for the audit


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    errcode: int
    body: bytes
    headers: dict[str, str] | None = None

    def response(self) -> web.Response:
        response = web.Response(body=self.body, status=self.status, content_type=JSON_TYPE,
                                charset="utf-8", headers=self.headers)
        response[ERRCODE_KEY] = self.errcode
        return response


def answer(ret: bool, errcode: int, errmsg: str, data: Any, *, status: int = 200,
           headers: dict[str, str] | None = None) -> Answer:
    body = orjson.dumps({"ret": ret, "errcode": int(errcode), "errmsg": errmsg, "data": data})
    return Answer(status, int(errcode), body, headers)


def failure_answer(error: ApiError) -> Answer:
    data = error.data if error.data is not None else ""
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    return answer(False, error.errcode, error.message, data, status=error.http_status,
                  headers=headers)


def unexpected_answer() -> Answer:
    """The answer to an exception no handler expected (logged by whoever caught it)."""
    return failure_answer(InternalError("internal error; see the daemon's log"))


def envelope(ret: bool, errcode: int, errmsg: str, data: Any, *, status: int = 200,
             always_200: bool = False, headers: dict[str, str] | None = None) -> web.Response:
    return answer(ret, errcode, errmsg, data, status=200 if always_200 else status,
                  headers=headers).response()


def success(data: Any = "", errmsg: str = "success", *, status: int = 200,
            errcode: int = ErrCode.SUCCESS, ret: bool = True) -> web.Response:
    return envelope(ret, errcode, errmsg, data, status=status)


def failure(error: ApiError, *, always_200: bool = False) -> web.Response:
    reply = failure_answer(error)
    if always_200:
        reply = Answer(200, reply.errcode, reply.body, reply.headers)
    return reply.response()
