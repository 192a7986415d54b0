"""Logging set-up: plain lines for journald, or one JSON object per line.

One record is one line, whatever its text: a request path, a header or an exception message
can carry a caller's line break, which would otherwise start a line of the caller's making
(`GET /qtalk/x%0AINFO%20component.audit:%20...`). So every line is escaped where it is
written (`component.log_lines`), not at the call sites: a plain line has its control
characters (and the Unicode line separators) written as `\n`, `\x1b`, `\u2028`...; a
traceback rides on its record's line the same way. A JSON line gets them as JSON escapes.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from component.config import LogConfig
from component.log_lines import PendingLines, json_line, one_line, plain_line


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

    Direct lines written while the event loop runs wait in `pending` and are written once
    per loop turn. A record through `logging` first writes the lines before it, so the order
    stays as logged."""

    def __init__(self, stream: TextIO, *, json: bool) -> None:
        super().__init__(stream)
        self.json = json
        self.setFormatter(JsonFormatter() if json else PlainFormatter())
        self.pending = PendingLines(self.write_batch, json=json)

    def write_batch(self) -> None:
        lines = self.pending.take()
        if not lines:
            return
        text = self.terminator.join(lines) + self.terminator
        try:
            with self.lock:  # type: ignore[union-attr]  # StreamHandler always has one
                self.stream.write(text)
                self.stream.flush()
        except Exception:  # as StreamHandler.emit: a line that cannot be written fails no request
            self.handleError(logging.makeLogRecord(
                {"name": "component.logs", "msg": "%d log lines lost", "args": (len(lines),),
                 "levelno": logging.INFO, "levelname": "INFO"}))

    def emit(self, record: logging.LogRecord) -> None:
        self.write_batch()
        super().emit(record)

    def flush(self) -> None:
        self.write_batch()
        super().flush()


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
