"""The outbox table's transactions: on the loop when the lock is free, never stalling it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from typing import Any

import pytest

from component.jid import Jid
from component.store import outbox as outbox_module
from component.store.db import Database
from component.store.outbox import OutboxRow, SqliteOutbox
from component.xmpp.stanzas import StartalkFields, build_message

ALICE = Jid.parse("alice@qtalk.test.org")
BOB = Jid.parse("bob@qtalk.test.org")


def row(seq: int) -> OutboxRow:
    return OutboxRow(seq, build_message(ALICE, BOB, stanza_id=f"m{seq}", msg_type="chat",
                                        body="x" * 200, fields=StartalkFields()))


async def stored(db: Database) -> list[int]:
    async with db.conn.execute("SELECT seq FROM outbox ORDER BY seq") as cursor:
        return [int(r[0]) for r in await cursor.fetchall()]


async def test_a_taken_lock_is_waited_for_off_the_loop(db: Database) -> None:
    outbox = SqliteOutbox(db)
    await outbox.open()
    await outbox.commit([row(1)], None, [])
    assert outbox.waited_for_lock == 0
    holder = sqlite3.connect(db.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer of the file holds the lock
    commit = asyncio.create_task(outbox.commit([row(2)], None, []))
    started = time.monotonic()
    await asyncio.sleep(0.2)  # the loop runs on while the group waits
    assert time.monotonic() - started < 1.0
    assert not commit.done()
    holder.execute("COMMIT")
    holder.close()
    await asyncio.wait_for(commit, 5)
    assert outbox.waited_for_lock == 1
    assert await stored(db) == [1, 2]
    await outbox.commit([row(3)], 1, [])  # and the loop's own attempts work again
    assert await stored(db) == [2, 3]
    await outbox.close()


async def test_other_errors_are_not_retried(db: Database) -> None:
    outbox = SqliteOutbox(db)
    await outbox.open()
    await outbox.commit([row(1)], None, [])
    with pytest.raises(sqlite3.IntegrityError):
        await outbox.commit([row(2), row(1)], None, [])  # seq 1 again: rolled back whole
    assert await stored(db) == [1]
    assert outbox.waited_for_lock == 0
    await outbox.close()


async def test_the_wal_is_checkpointed_by_the_writer_thread(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_module, "CHECKPOINT_ROWS", 10)
    outbox = SqliteOutbox(db)
    await outbox.open()
    threads: list[str] = []
    original = SqliteOutbox._checkpoint_wal

    def recording(self: SqliteOutbox) -> None:
        threads.append(threading.current_thread().name)
        original(self)

    monkeypatch.setattr(SqliteOutbox, "_checkpoint_wal", recording)
    size_before = db.path.stat().st_size
    for seq in range(1, 21):
        await outbox.commit([row(seq)], None, [])
    await outbox.close()  # waits for a checkpoint still running
    assert threads
    assert all(name.startswith("outbox-writer") for name in threads)
    assert db.path.stat().st_size > size_before  # the rows reached the file itself


@pytest.mark.parametrize(("synchronous", "pragma"), [("normal", 1), ("full", 2)])
async def test_full_syncs_each_group_off_the_loop(db: Database, synchronous: str, pragma: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """[store] synchronous: FULL syncs the WAL at every commit, so the commit waits on the
    disk on the writer thread; NORMAL commits on the loop's thread."""
    outbox = SqliteOutbox(db, synchronous=synchronous)
    await outbox.open()
    threads: list[str] = []
    transaction = outbox._transaction

    def recorded(*args: Any) -> None:
        threads.append(threading.current_thread().name)
        transaction(*args)

    monkeypatch.setattr(outbox, "_transaction", recorded)
    await outbox.commit([row(1)], None, [])
    assert outbox._conn is not None
    assert outbox._conn.execute("PRAGMA synchronous").fetchone() == (pragma,)
    assert threads == ["MainThread" if synchronous == "normal" else "outbox-writer_0"]
    assert await stored(db) == [1]
    await outbox.close()
