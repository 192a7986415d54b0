"""The one answer shape: `{"ret", "errcode", "errmsg", "data"}` (DESIGN.md §7)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from component.errors import ApiError, ErrCode

JSON_TYPE = "application/json"
ERRCODE_KEY = web.ResponseKey("qtalk_errcode", int)  # kept on the response, for the audit


def envelope(ret: bool, errcode: int, errmsg: str, data: Any, *, status: int = 200,
             always_200: bool = False, headers: dict[str, str] | None = None) -> web.Response:
    body = orjson.dumps({"ret": ret, "errcode": int(errcode), "errmsg": errmsg, "data": data})
    response = web.Response(body=body, status=200 if always_200 else status,
                            content_type=JSON_TYPE, charset="utf-8", headers=headers)
    response[ERRCODE_KEY] = int(errcode)
    return response


def success(data: Any = "", errmsg: str = "success", *, status: int = 200,
            errcode: int = ErrCode.SUCCESS, ret: bool = True) -> web.Response:
    return envelope(ret, errcode, errmsg, data, status=status)


def failure(error: ApiError, *, always_200: bool = False) -> web.Response:
    data = error.data if error.data is not None else ""
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    return envelope(False, error.errcode, error.message, data, status=error.http_status,
                    always_200=always_200, headers=headers)
