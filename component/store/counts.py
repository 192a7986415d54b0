"""Row counts for the status command (rooms known, users with a cached vCard)."""

from __future__ import annotations

from component.store.db import Database

COUNTED = frozenset({"rooms", "vcards", "hosts", "user_keys"})


async def count_rows(db: Database, table: str) -> int:
    if table not in COUNTED:  # the name is put into SQL: only known tables
        raise ValueError(f"no row count for table {table!r}")
    async with db.conn.execute(f"SELECT COUNT(*) FROM {table}") as cursor:  # noqa: S608
        row = await cursor.fetchone()
    return int(row[0]) if row else 0
