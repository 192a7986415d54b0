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
from collections.abc import Iterable
from typing import Any

import orjson

from component.http.route import Request
from component.logs import line_handler_for

log = logging.getLogger("component.audit")
_SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
_NOT_PLAIN = re.compile(r"[^A-Za-z0-9._:@/+=*,-]")


# Request ids must be unique, not secret: a PRNG seeded from the OS once, not a syscall each.
_IDS = random.Random(secrets.randbits(128))


def new_request_id() -> str:
    return f"{_IDS.getrandbits(64):016x}"


def sane_request_id(given: str) -> str:
    """The caller's X-Request-Id when it is sane, else a new one."""
    return given if _SANE_ID.fullmatch(given) else new_request_id()


def note(request: Request, *, acting_as: str | Iterable[str] | None = None,
         targets: Iterable[str] = (), stanza_ids: Iterable[str | None] = (),
         **extra: Any) -> None:
    """Add facts to this request's audit line; may be called more than once."""
    add_facts(request.facts, acting_as=acting_as, targets=targets, stanza_ids=stanza_ids,
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


def write_line(rid: str, integrator: str, remote: str | None, endpoint: str,
               facts: dict[str, Any], status: int, errcode: int, seconds: float) -> None:
    """The audit line of one mutating call."""
    if not log.isEnabledFor(logging.INFO):
        return  # an operator may silence the trail; then it costs nothing
    _emit({"request_id": rid, "integrator": integrator, "remote": remote or "-",
           "endpoint": endpoint, **facts, "status": status, "errcode": errcode,
           "ms": round(seconds * 1000, 1)})


def write_event(event: str, facts: dict[str, Any]) -> None:
    """An audit line no request writes: what happened later to what a call sent."""
    if log.isEnabledFor(logging.INFO):
        _emit({"event": event, **facts})


def _emit(record: dict[str, Any]) -> None:
    line = " ".join([f"{key}={_quoted(value)}" for key, value in record.items()])
    handler = line_handler_for(log)
    if handler is not None and not handler.json:
        handler.write_info(log.name, line, {})  # a plain line is all there is to write
        return
    # The JSON fields: an ordered set of facts (acting_as) as the list it is.
    fields = {key: list(value) if isinstance(value, dict) else value
              for key, value in record.items()}
    if handler is not None:
        handler.write_info(log.name, line, fields)
    else:
        log.info("%s", line, extra={"fields": fields})


def _quoted(value: Any) -> str:
    """A value of a logfmt pair: as it is when plain, else JSON-quoted, so that no caller
    text can forge a line. A list is plain when its items, joined with commas, are: the one
    class also refuses commas inside items and empty ones."""
    kind = type(value)
    if kind is str:  # the common cases first: every line has several of each
        return value if value and "," not in value and _NOT_PLAIN.search(value) is None \
            else orjson.dumps(value).decode()
    if kind is int or kind is float or isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | dict):
        items: list[str] | dict[str, Any] = value
        try:
            joined = ",".join(items)  # the facts' lists hold strings (ids, JIDs) as a rule
        except TypeError:
            items = [str(item) for item in value]
            joined = ",".join(items)
        if not joined:
            return "-" if not items else orjson.dumps(list(items)).decode()
        plain = "" not in items and _NOT_PLAIN.search(joined) is None
        return joined if plain else orjson.dumps(list(items)).decode()
    return _quoted(str(value))
