"""Request ids and the audit trail: one structured line per mutating call.

Every answer carries `X-Request-Id` (the caller's, when it sent a sane one, else a new one), so
a caller's report, the daemon's logs and the stanza ids can be matched up. Each mutating call,
refused or not, leaves one line on the logger `component.audit`: who called (integrator), for
whom (acting-as user), on what (targets), which stanzas it produced, and the outcome. The
line is logfmt for journald readers; the same facts ride along as `fields` for the JSON log
formatter. Handlers add what only they know through `note()`.
"""

from __future__ import annotations

import logging
import random
import re
import secrets
import time
from collections.abc import Iterable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from component.errors import ApiError, ErrCode
from component.http.auth import integrator_of
from component.http.envelope import ERRCODE_KEY
from component.http.route import route_of
from component.logs import line_handler_for

log = logging.getLogger("component.audit")
REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = web.RequestKey("qtalk_request_id", str)
_FACTS = web.RequestKey("qtalk_audit", dict[str, Any])
_SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
_PLAIN_LIST = re.compile(r"[A-Za-z0-9._:@/+=*-]+(?:,[A-Za-z0-9._:@/+=*-]+)*")


# Request ids must be unique, not secret: a PRNG seeded from the OS once, not a syscall each.
_IDS = random.Random(secrets.randbits(128))


def new_request_id() -> str:
    return f"{_IDS.getrandbits(64):016x}"


def sane_request_id(given: str) -> str:
    """The caller's X-Request-Id when it is sane, else a new one."""
    return given if _SANE_ID.fullmatch(given) else new_request_id()


def request_id(request: web.Request) -> str:
    return request.get(_REQUEST_ID) or ""


def facts_of(request: web.Request) -> dict[str, Any]:
    """The facts gathered so far for this request's audit line (a live dict)."""
    facts: dict[str, Any] = request.setdefault(_FACTS, {})
    return facts


def note(request: web.Request, *, acting_as: str | Iterable[str] | None = None,
         targets: Iterable[str] = (), stanza_ids: Iterable[str | None] = (),
         **extra: Any) -> None:
    """Add facts to this request's audit line; may be called more than once."""
    add_facts(facts_of(request), acting_as=acting_as, targets=targets, stanza_ids=stanza_ids,
              **extra)


def add_facts(facts: dict[str, Any], *, acting_as: str | Iterable[str] | None = None,
              targets: Iterable[str] = (), stanza_ids: Iterable[str | None] = (),
              **extra: Any) -> None:
    if acting_as is not None:
        users = [acting_as] if isinstance(acting_as, str) else acting_as
        facts.setdefault("acting_as", {}).update(dict.fromkeys(users))  # ordered set
    facts.setdefault("targets", []).extend(targets)
    facts.setdefault("stanza_ids", []).extend(i for i in stanza_ids if i)
    facts.update(extra)


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: every answer, error envelopes included, names its request."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    rid = sane_request_id(given)
    request[_REQUEST_ID] = rid
    response = await handler(request)
    response.headers[REQUEST_ID_HEADER] = rid
    return response


@web.middleware
async def audit_trail(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Inside the error middleware, so it sees the real status before the 200 switch."""
    route = route_of(request)
    if route is None or not route.mutating:
        return await handler(request)
    started = time.monotonic()
    status, errcode = 500, int(ErrCode.INTERNAL)
    try:
        response = await handler(request)
        status, errcode = response.status, response.get(ERRCODE_KEY, 0)
        return response
    except ApiError as exc:
        status, errcode = exc.http_status, int(exc.errcode)
        raise
    except web.HTTPException as exc:
        status = exc.status
        errcode = int(ErrCode.TOO_LARGE) if status == 413 else 0
        raise
    finally:
        _write(request, route.path, status, errcode, time.monotonic() - started)


def _write(request: web.Request, endpoint: str, status: int, errcode: int,
           seconds: float) -> None:
    integrator = integrator_of(request)
    write_line(request_id(request), integrator.name if integrator else "-", request.remote,
               endpoint, request.get(_FACTS, {}), status, errcode, seconds)


def write_line(rid: str, integrator: str, remote: str | None, endpoint: str,
               facts: dict[str, Any], status: int, errcode: int, seconds: float) -> None:
    """The audit line of one mutating call (also written by the fast lane)."""
    if not log.isEnabledFor(logging.INFO):
        return  # an operator may silence the trail; then it costs nothing
    record: dict[str, Any] = {
        "request_id": rid,
        "integrator": integrator,
        "remote": remote or "-",
        "endpoint": endpoint,
        **{key: list(value) if isinstance(value, dict) else value
           for key, value in facts.items()},
        "status": status,
        "errcode": errcode,
        "ms": round(seconds * 1000, 1),
    }
    handler = line_handler_for(log)
    if handler is not None:
        handler.write_info(log.name, _logfmt(record), record)
    else:
        log.info("%s", _logfmt(record), extra={"fields": record})


_NUMBERS = (int, float)  # a tuple: `int | float` would build a union object every call


def _logfmt(record: dict[str, Any]) -> str:
    """key=value pairs; anything not plain is JSON-quoted, so no caller text can forge a line.

    A list is plain when its items, joined with commas, are: the one pattern (one regex call
    per key; this line is written for every message) also refuses empty items and commas."""
    parts = []
    for key, value in record.items():
        if isinstance(value, _NUMBERS):
            parts.append(f"{key}={value}")
            continue
        is_list = isinstance(value, list)
        joined = ",".join(map(str, value)) if is_list else str(value)
        if _PLAIN_LIST.fullmatch(joined) or (is_list and not joined):
            parts.append(f"{key}={joined or '-'}")
        else:
            parts.append(f"{key}={orjson.dumps(value, default=str).decode()}")
    return " ".join(parts)
