"""The daemon's log lines: one record is one line, whatever its text (`component.logs` says
why), and the lines the log handler takes straight from the audit trail, waiting for the end
of the loop turn. Compiled (setup.py): a line is made and added per audited request, where
`logging`'s own path, or an interpreted call, costs more than the rest of the line."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any, Final

import orjson

# What some reader takes for the end of a line (journald, grep: \n; Python's splitlines and
# log viewers: \r, \v, \f, \x1c-\x1e, NEL, U+2028/9) or a terminal for a command (ESC):
# DEL, the two Unicode separators, and every C0 and C1 control except the tab.
_PLAIN_UNSAFE: Final = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
# orjson escapes C0 itself; these it writes raw (valid JSON, but a line break to some).
_JSON_UNSAFE: Final = re.compile("[\x7f-\x9f\u2028\u2029]")
_SHORT_ESCAPES: Final = {"\n": "\\n", "\r": "\\r"}


def one_line(text: str) -> str:
    """`text` with nothing in it that could end its line (a no-op for ordinary text)."""
    # Every character the pattern escapes is one str.isprintable refuses (Cc, Zl, Zp): the
    # C check passes an ordinary line without the pattern's per-character class test.
    if text.isprintable() or _PLAIN_UNSAFE.search(text) is None:
        return text
    return _PLAIN_UNSAFE.sub(_plain_escape, text)


def _plain_escape(found: re.Match[str]) -> str:
    char = found[0]
    return _SHORT_ESCAPES.get(char) or (
        f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def plain_line(level: str, logger: str, message: str) -> str:
    return f"{level} {logger}: {message}"  # journald stamps the time itself


def json_line(created: float, level: str, logger: str, message: str,
              fields: dict[str, Any]) -> str:
    entry = {"ts": round(created, 3), "level": level, "logger": logger, "msg": message}
    entry.update(fields)
    line = orjson.dumps(entry).decode()
    if _JSON_UNSAFE.search(line) is None:
        return line
    return _JSON_UNSAFE.sub(lambda found: f"\\u{ord(found[0]):04x}", line)


class PendingLines:
    """Lines in their handler's format, already on one line, written together by `write`
    (the handler's) once per loop turn: one write to journald's pipe costs more than the
    rest of a request's line. Without a running loop, each is written at once."""

    def __init__(self, write: Callable[[], None], *, json: bool) -> None:
        self.json: Final = json
        self._write: Final = write
        self._lines: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # get_running_loop() costs a getpid

    def add(self, line: str) -> None:
        lines = self._lines
        lines.append(line)
        if len(lines) > 1:  # their write is due at the end of this loop turn
            return
        loop = self._loop
        if loop is None or not loop.is_running():
            try:
                loop = self._loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop runs: write at once
                self._write()
                return
        loop.call_soon(self._write)

    def add_info(self, logger: str, message: str, fields: dict[str, Any]) -> None:
        """What `logging.getLogger(logger).info(message, extra={"fields": fields})` writes."""
        self.add(json_line(time.time(), "INFO", logger, message, fields) if self.json
                 else one_line(plain_line("INFO", logger, message)))

    def take(self) -> list[str]:
        """The lines waiting, which are no longer."""
        lines, self._lines = self._lines, []
        return lines


def pending_lines_for(log: logging.Logger) -> PendingLines | None:
    """The lines of the handler that alone handles this logger's records, if it takes lines
    directly (a LineHandler; not under pytest's log capture, say): only then may a line
    bypass `logging`."""
    if log.handlers or log.filters or not log.propagate:
        return None
    handlers = logging.root.handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    lines = getattr(handler, "pending", None)
    return lines if isinstance(lines, PendingLines) and not handler.filters else None
