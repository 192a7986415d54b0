"""The log handler's direct path for audit lines: the same line as `logging` writes."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from component.config import LogConfig
from component.logs import LineHandler, line_handler_for, setup_logging

FIELDS = {"request_id": "r1", "targets": ["a@b"], "status": 200}


@pytest.fixture
def root_handlers() -> Iterator[None]:
    """setup_logging replaces the root's handlers (pytest's capture among them): restore."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    yield
    root.handlers[:] = saved
    root.setLevel(level)


@pytest.mark.parametrize("json", [False, True])
def test_a_direct_line_is_the_line_logging_writes(json: bool, root_handlers: None) -> None:
    setup_logging(LogConfig(json=json))
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, LineHandler)
    handler.setStream(stream)
    log = logging.getLogger("component.audit")
    assert line_handler_for(log) is handler
    handler.write_info(log.name, "request_id=r1 status=200", FIELDS)
    log.info("%s", "request_id=r1 status=200", extra={"fields": FIELDS})
    direct, through_logging = stream.getvalue().splitlines()
    if json:
        first, second = orjson.loads(direct), orjson.loads(through_logging)
        assert abs(first.pop("ts") - second.pop("ts")) < 1
        assert first == second
    else:
        assert direct == through_logging == "INFO component.audit: request_id=r1 status=200"


def test_only_a_lone_line_handler_is_written_to_directly(root_handlers: None) -> None:
    setup_logging(LogConfig())
    log = logging.getLogger("component.audit")
    assert line_handler_for(log) is not None
    logging.getLogger().addHandler(logging.NullHandler())  # say, pytest's log capture
    assert line_handler_for(log) is None


def test_a_line_that_cannot_be_written_fails_nothing(
        root_handlers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError("journald went away")

    monkeypatch.setattr(logging, "raiseExceptions", False)  # handleError stays quiet
    handler = LineHandler(Broken(), json=False)
    handler.write_info("component.audit", "request_id=r1", FIELDS)  # no exception
