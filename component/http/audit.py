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
from typing import TYPE_CHECKING, Any, Final

import orjson

from component.log_lines import pending_lines_for, plain_line

if TYPE_CHECKING:
    from component.http.route import Request

log: Final = logging.getLogger("component.audit")
_SANE_ID: Final = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
_NOT_PLAIN: Final = re.compile(r"[^A-Za-z0-9._:@/+=*,-]")


# Request ids must be unique, not secret: a PRNG seeded from the OS once, not a syscall each.
_IDS: Final = random.Random(secrets.randbits(128))


class _RequestIds:
    """64 random bits in 16 hex digits each, drawn 256 at a time: one draw and one hex()
    for all, where a `%016x` of a draw each cost 2k instructions a request."""

    def __init__(self) -> None:
        self._digits = ""
        self._next = 0

    def new(self) -> str:
        start = self._next
        if start >= len(self._digits):
            self._digits, start = _IDS.randbytes(8 * 256).hex(), 0
        self._next = start + 16
        return self._digits[start:start + 16]


_REQUEST_IDS: Final = _RequestIds()


def new_request_id() -> str:
    return _REQUEST_IDS.new()


def sane_request_id(given: str) -> str:
    """The caller's X-Request-Id when it is sane, else a new one."""
    return given if _SANE_ID.fullmatch(given) else new_request_id()


class Facts:
    """What the handlers of one call told its audit line, in the line's order: the users it
    acted as (when the first facts named them), its targets and stanza ids (on the line once
    any facts came), then the rest in the order they came, users named later among them.

    Made with every request. The message handlers, which audit every item, call `act_as` and
    `add` themselves: the lists they build are kept as they are (building and copying them
    through `add_facts`' keywords cost 7k instructions of a one-message request)."""

    def __init__(self) -> None:
        self.acting_as: list[str] | None = None  # an ordered set: one user as a rule
        self.targets: list[str] | None = None  # None until the first facts
        self.stanza_ids: list[str] | None = None
        self.more: dict[str, Any] | None = None

    def act_as(self, users: str | Iterable[str]) -> None:
        """Add the users the call acts for: as the first facts they lead the line."""
        if self.targets is None:
            self.acting_as = [users] if isinstance(users, str) else [*dict.fromkeys(users)]
            self.targets, self.stanza_ids = [], []
        elif self.acting_as is not None:
            _add_users(self.acting_as, users)
        else:  # named after the first facts: after them on the line
            more = self.more or {}
            named = [*more.get("acting_as", ())]
            _add_users(named, users)
            self.more = more | {"acting_as": named}

    def add(self, targets: list[str], stanza_ids: list[str]) -> None:
        """Add targets and stanza ids (no None among them); the facts keep the lists given
        with the first facts, so each is made for this call."""
        known, ids = self.targets, self.stanza_ids
        if known is None or ids is None:
            self.targets, self.stanza_ids = targets, stanza_ids
        else:
            known.extend(targets)
            ids.extend(stanza_ids)

    def fields(self) -> dict[str, Any]:
        """The facts for the JSON log formatter."""
        if self.targets is None:
            return {}
        fields: dict[str, Any] = {} if self.acting_as is None \
            else {"acting_as": list(self.acting_as)}
        fields["targets"], fields["stanza_ids"] = self.targets, self.stanza_ids
        return fields if self.more is None else fields | _listed(self.more)


def note(request: Request, *, acting_as: str | Iterable[str] | None = None,
         targets: Iterable[str] = (), stanza_ids: Iterable[str | None] = (),
         **extra: Any) -> None:
    """Add facts to this request's audit line; may be called more than once."""
    add_facts(request.facts, acting_as=acting_as, targets=targets, stanza_ids=stanza_ids,
              **extra)


def add_facts(facts: Facts, *, acting_as: str | Iterable[str] | None = None,
              targets: Iterable[str] = (), stanza_ids: Iterable[str | None] = (),
              **extra: Any) -> None:
    if acting_as is not None:
        facts.act_as(acting_as)
    # The empty defaults are skipped: each call names one or two of the three as a rule.
    if targets or stanza_ids or facts.targets is None:
        facts.add([*targets] if targets else [],
                  [*filter(None, stanza_ids)] if stanza_ids else [])
    if extra:
        facts.more = extra if facts.more is None else facts.more | extra


def _add_users(users: list[str], more: str | Iterable[str]) -> None:
    """`users`, an ordered set kept as a list (one user is the rule), with `more` added."""
    for user in (more,) if isinstance(more, str) else more:
        if user not in users:
            users.append(user)


def write_line(rid: str, integrator: str, remote: str | None, endpoint: str,
               facts: Facts, status: int, errcode: int, seconds: float) -> None:
    """The audit line of one mutating call."""
    if not log.isEnabledFor(logging.INFO):
        return  # an operator may silence the trail; then it costs nothing
    remote = remote or "-"
    acting_as, targets, stanza_ids, more = \
        facts.acting_as, facts.targets, facts.stanza_ids, facts.more
    values = [rid, integrator, remote, endpoint]
    if acting_as:
        values.extend(acting_as)
    if targets:
        values.extend(targets)
    if stanza_ids:
        values.extend(stanza_ids)
    plain = more is None
    for value in values:  # no empty value is plain (a compiled loop: no `in`, no compare)
        if not value:
            plain = False
    joined = "".join(values)
    plain = plain and joined.isascii() \
        and _NOT_PLAIN_BYTE not in joined.encode().translate(_PLAIN_TABLE)
    if targets is None or stanza_ids is None:
        pairs = ""
    elif plain:  # a plain list as it is written: its items joined with commas, `-` when empty
        pairs = f" targets={','.join(targets) or '-'} stanza_ids={','.join(stanza_ids) or '-'}" \
            if acting_as is None else \
            f" acting_as={','.join(acting_as) or '-'} targets={','.join(targets) or '-'}" \
            f" stanza_ids={','.join(stanza_ids) or '-'}"
    else:
        pairs = f" targets={_quoted(targets)} stanza_ids={_quoted(stanza_ids)}"
        if acting_as is not None:
            pairs = f" acting_as={_quoted(acting_as)}{pairs}"
    if more is not None:
        pairs += _pairs(more)
    # Milliseconds to a tenth, half to even (the JSON field is the same number).
    # The numbers as texts from tables: compiled (setup.py), an f-string with a part that is
    # not a str, or with a format spec, is a str.format call per part (a parse of its format
    # each time), and `%.1f` costs 1.6k instructions; of str parts only, one concatenation.
    tenths = round(seconds * 10_000)
    numbers = (f" status={_NUMBERS.get(status) or str(status)}"
               f" errcode={_NUMBERS.get(errcode) or str(errcode)}"
               f" ms={_TENTHS[tenths] if 0 <= tenths < _TENTHS_KNOWN else _tenths(tenths)}")
    lines = pending_lines_for(log)
    if plain:
        if lines is not None and not lines.json:  # printable ASCII only: a line as it is
            lines.add(f"{_INFO_LINE}request_id={rid} integrator={integrator} remote={remote} "
                      f"endpoint={endpoint}{pairs}{numbers}")
            return
        text = (f"request_id={rid} integrator={integrator} remote={remote} "
                f"endpoint={endpoint}")
    else:
        text = (f"request_id={_quoted(rid)} integrator={_quoted(integrator)} "
                f"remote={_quoted(remote)} endpoint={_quoted(endpoint)}")
    text = f"{text}{pairs}{numbers}"
    if lines is not None and not lines.json:
        lines.add_info(log.name, text, {})
        return
    _write(text, {
        "request_id": rid, "integrator": integrator, "remote": remote, "endpoint": endpoint,
        **facts.fields(), "status": status, "errcode": errcode, "ms": tenths / 10})


# The texts of the common statuses and error codes: str() of an int costs a dozen lookups.
_NUMBERS: Final = {number: str(number) for number in (0, *range(200, 600))}


def _tenths(tenths: int) -> str:
    """A number of tenths as a decimal: 12 is "1.2"."""
    return f"{'-' if tenths < 0 else ''}{abs(tenths) // 10}.{abs(tenths) % 10}"


# The durations of nearly every request, up to 99.9 ms, as texts (some 60 KB).
_TENTHS_KNOWN: Final = 1000
_TENTHS: Final = [_tenths(tenths) for tenths in range(_TENTHS_KNOWN)]


# A plain line is its message after this: the request line is written with it at once.
_INFO_LINE: Final = plain_line("INFO", log.name, "")


def write_event(event: str, facts: dict[str, Any]) -> None:
    """An audit line no request writes: what happened later to what a call sent."""
    if log.isEnabledFor(logging.INFO):
        record = {"event": event, **facts}
        _write(_pairs(record)[1:], _listed(record))


def _write(line: str, fields: dict[str, Any]) -> None:
    lines = pending_lines_for(log)
    if lines is not None:
        lines.add_info(log.name, line, fields)
    else:
        log.info("%s", line, extra={"fields": fields})


def _pairs(record: dict[str, Any]) -> str:
    return "".join([f" {key}={_quoted(value)}" for key, value in record.items()])


def _listed(record: dict[str, Any]) -> dict[str, Any]:
    """The JSON fields: an ordered set of facts (acting_as) as the list it is."""
    return {key: list(value) if isinstance(value, dict) else value
            for key, value in record.items()}


# A line's values are all plain when its strings and its lists' items are, without commas
# (`_quoted` says what else is plain): tested at once, for a call costs what some hundred
# characters do. An empty string or item is not plain; an empty list is "-".
# A table maps the plain characters to a letter and every other byte to "!": translating the
# text's bytes and looking for a "!" (memchr: a third of what isalpha costs) costs a quarter
# of a regex' class test per character.
_PLAIN_TABLE: Final = bytes(
    b"a"[0] if re.fullmatch(r"[A-Za-z0-9._:@/+=*-]", chr(byte)) else b"!"[0]
    for byte in range(256))
_NOT_PLAIN_BYTE: Final = b"!"[0]  # an int: `in` looks for it with memchr, fast as a scan can be


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
