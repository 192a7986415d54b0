"""Logging set-up: plain lines for journald, or one JSON object per line.

One record is one line, whatever its text: a request path, a header or an exception message
can carry a caller's line break, which would otherwise start a line of the caller's making
(`GET /qtalk/x%0AINFO%20component.audit:%20...`). So every line is escaped here, where it is
written, not at the call sites: a plain line has its control characters (and the Unicode
line separators) written as `\n`, `\x1b`, `\u2028`...; a traceback rides on its record's
line the same way. A JSON line gets them as JSON escapes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from typing import Any, TextIO

import orjson

from component.config import LogConfig

# What some reader takes for the end of a line (journald, grep: \n; Python's splitlines and
# log viewers: \r, \v, \f, \x1c-\x1e, NEL, U+2028/9) or a terminal for a command (ESC):
# DEL, the two Unicode separators, and every C0 and C1 control except the tab.
_PLAIN_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
# orjson escapes C0 itself; these it writes raw (valid JSON, but a line break to some).
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029]")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r"}


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


class PlainFormatter(logging.Formatter):
    """`plain_line`, traceback included, on one line."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return plain_line(record.levelname, record.name, record.message)

    def format(self, record: logging.LogRecord) -> str:
        return one_line(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = dict(getattr(record, "fields", {}))
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        return json_line(record.created, record.levelname, record.name, record.getMessage(),
                         fields)


class LineHandler(logging.StreamHandler[TextIO]):
    """The daemon's one handler: a stream handler that also takes a line straight from the
    audit trail, which writes one per message, without building a LogRecord (that and the
    formatter's dispatch cost as much as the rest of the line).

    Direct lines written while the event loop runs are joined and written once per loop
    turn: one write to journald's pipe cost more than the rest of a request's line. A record
    through `logging` first writes the lines before it, so the order stays as logged."""

    def __init__(self, stream: TextIO, *, json: bool) -> None:
        super().__init__(stream)
        self.json = json
        self.setFormatter(JsonFormatter() if json else PlainFormatter())
        self._batch: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # get_running_loop() costs a getpid

    def write_info(self, logger: str, message: str, fields: dict[str, Any]) -> None:
        """What `logging.getLogger(logger).info(message, extra={"fields": fields})` writes."""
        self.write_line(json_line(time.time(), "INFO", logger, message, fields) if self.json
                        else one_line(plain_line("INFO", logger, message)))

    def write_line(self, line: str) -> None:
        """A line in this handler's format, on one line already (as `one_line` or
        `json_line` leave it): the audit trail's lines of plain values are, as they are."""
        batch = self._batch
        if batch:  # their write is due at the end of this loop turn
            batch.append(line)
            return
        batch.append(line)
        loop = self._loop
        if loop is None or not loop.is_running():
            try:
                loop = self._loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop runs: write at once
                self.write_batch()
                return
        loop.call_soon(self.write_batch)

    def write_batch(self) -> None:
        if not self._batch:
            return
        text = self.terminator.join(self._batch) + self.terminator
        count, self._batch = len(self._batch), []
        try:
            with self.lock:  # type: ignore[union-attr]  # StreamHandler always has one
                self.stream.write(text)
                self.stream.flush()
        except Exception:  # as StreamHandler.emit: a line that cannot be written fails no request
            self.handleError(logging.makeLogRecord(
                {"name": "component.logs", "msg": "%d log lines lost", "args": (count,),
                 "levelno": logging.INFO, "levelname": "INFO"}))

    def emit(self, record: logging.LogRecord) -> None:
        self.write_batch()
        super().emit(record)

    def flush(self) -> None:
        self.write_batch()
        super().flush()


def line_handler_for(log: logging.Logger) -> LineHandler | None:
    """The LineHandler that alone handles this logger's records, if there is one (not under
    pytest's log capture, say): only then may a line bypass `logging`."""
    if log.handlers or log.filters or not log.propagate:
        return None
    try:
        [handler] = logging.root.handlers  # an unpacking: no len() call
    except ValueError:
        return None
    return handler if type(handler) is LineHandler and not handler.filters else None


def setup_logging(config: LogConfig) -> None:
    """At start, and again on a reload (lines batched before it are written first)."""
    # Neither format shows the caller's source line, thread or process, and every audited
    # request logs a line: skip collecting them (the logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    for handler in root.handlers:
        handler.flush()
    root.handlers[:] = [LineHandler(sys.stderr, json=config.json)]
    root.setLevel(config.level)
