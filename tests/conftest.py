"""Run every async test on uvloop, the loop the daemon uses in production; shared fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import uvloop


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item
                                  ) -> dict[str, Callable[[], Any]]:
    # One entry: tests are not parametrised by loop, and their ids stay unchanged.
    return {"uvloop": uvloop.new_event_loop}


@pytest_asyncio.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client for tests that talk to a daemon on a loopback port."""
    async with aiohttp.ClientSession() as session:
        yield session
