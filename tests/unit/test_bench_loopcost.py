"""bench.loopcost runs each of its modes to the end, on a loop of its own."""

from __future__ import annotations

import concurrent.futures

import pytest

from bench import loopcost


@pytest.mark.parametrize("mode", ["call_soon", "task", "wait", "wait-deep"])
def test_each_mode_finishes(mode: str) -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as thread:  # off the tests' own loop
        thread.submit(loopcost.main, [mode, "200"]).result(30)


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(SystemExit, match="usage"):
        loopcost.main(["sleep", "10"])
