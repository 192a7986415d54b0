"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from component.store.db import Database
from tests.unit.clock import ManualClock


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated SQLite store in the test's own directory (no mocks of our store)."""
    database = await Database.open(tmp_path / "store.db")
    yield database
    await database.close()


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when the test says so."""
    return ManualClock()
