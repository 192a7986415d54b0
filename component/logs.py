"""Logging set-up: plain lines for journald, or one JSON object per line."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any, TextIO

import orjson

from component.config import LogConfig

PLAIN_FORMAT = "%(levelname)s %(name)s: %(message)s"  # journald stamps the time itself


def json_line(created: float, level: str, logger: str, message: str,
              fields: dict[str, Any]) -> str:
    entry = {"ts": round(created, 3), "level": level, "logger": logger, "msg": message}
    entry.update(fields)
    return orjson.dumps(entry).decode()


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
        self.setFormatter(JsonFormatter() if json else logging.Formatter(PLAIN_FORMAT))
        self._batch: list[str] = []

    def write_info(self, logger: str, message: str, fields: dict[str, Any]) -> None:
        """What `logging.getLogger(logger).info(message, extra={"fields": fields})` writes."""
        line = (json_line(time.time(), "INFO", logger, message, fields) if self.json
                else PLAIN_FORMAT % {"levelname": "INFO", "name": logger, "message": message})
        self._batch.append(line)
        if len(self._batch) > 1:
            return  # its write is due at the end of this loop turn
        try:
            asyncio.get_running_loop().call_soon(self.write_batch)
        except RuntimeError:  # no loop runs: write at once
            self.write_batch()

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
    handlers = logging.root.handlers
    if len(handlers) != 1 or log.handlers or log.filters or not log.propagate:
        return None
    handler = handlers[0]
    return handler if type(handler) is LineHandler and not handler.filters else None


def setup_logging(config: LogConfig) -> None:
    # Neither format shows the caller's source line, thread or process, and every audited
    # request logs a line: skip collecting them (the logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [LineHandler(sys.stderr, json=config.json)]
    root.setLevel(config.level)
