"""Run every async test on uvloop, the loop the daemon uses in production."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import uvloop


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item
                                  ) -> dict[str, Callable[[], Any]]:
    # One entry: tests are not parametrised by loop, and their ids stay unchanged.
    return {"uvloop": uvloop.new_event_loop}
