"""The log handler's direct path for audit lines: the same line as `logging` writes."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from component.config import LogConfig
from component.log_lines import pending_lines_for
from component.logs import LineHandler, setup_logging

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
    assert pending_lines_for(log) is handler.pending
    handler.pending.add_info(log.name, "request_id=r1 status=200", FIELDS)
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
    assert pending_lines_for(log) is not None
    logging.getLogger().addHandler(logging.NullHandler())  # say, pytest's log capture
    assert pending_lines_for(log) is None


def test_a_line_that_cannot_be_written_fails_nothing(
        root_handlers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError("journald went away")

    monkeypatch.setattr(logging, "raiseExceptions", False)  # handleError stays quiet
    handler = LineHandler(Broken(), json=False)
    handler.pending.add_info("component.audit", "request_id=r1", FIELDS)  # no exception


FORGED = "x\nINFO component.audit: request_id=FORGED1\r\nERROR a: b\u2028c\x85d\x1b[2Je\x00"


@pytest.mark.parametrize("json", [False, True])
def test_one_record_is_one_line_whatever_its_text(json: bool, root_handlers: None) -> None:
    """Caller text in the message, the arguments, the logger name, a traceback and the
    direct audit path: never a line of its own (issue 12: log forging)."""
    setup_logging(LogConfig(json=json))
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, LineHandler)
    handler.setStream(stream)
    log = logging.getLogger("component.test").getChild(FORGED)
    log.warning("GET %s refused", FORGED)
    try:
        raise ValueError(FORGED)
    except ValueError:
        log.exception("failed: %s", FORGED)
    handler.pending.add_info("component.audit", FORGED, {"path": FORGED})
    lines = stream.getvalue().split("\n")
    assert lines.pop() == ""
    assert len(lines) == 3
    for line in lines:
        assert line.splitlines() == [line]
        assert "\x1b" not in line
        if json:  # the JSON escapes give the text back whole
            assert any(FORGED in str(value) for value in orjson.loads(line).values())
    if not json:
        escaped = "x\\nINFO component.audit: request_id=FORGED1\\r\\nERROR a: b\\u2028c\\x85d"
        assert lines[0].startswith(f"WARNING component.test.{escaped}")
        assert f"GET {escaped}" in lines[0]
        assert "\\nTraceback (most recent call last):\\n" in lines[1]
        assert lines[2].startswith(f"INFO component.audit: {escaped}")
