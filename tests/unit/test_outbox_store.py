"""The outbox's file and its transactions: on the loop, never stalling it."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from component.jid import Jid
from component.store import outbox as outbox_module
from component.store.db import Database
from component.store.migrations import MIGRATIONS
from component.store.outbox import OutboxRow, SqliteOutbox
from component.store.outbox_file import OutboxFileInUse, outbox_path
from component.xmpp.stanzas import StartalkFields, build_message

ALICE = Jid.parse("alice@qtalk.test.org")
BOB = Jid.parse("bob@qtalk.test.org")


def row(seq: int) -> OutboxRow:
    return OutboxRow(seq, build_message(ALICE, BOB, stanza_id=f"m{seq}", msg_type="chat",
                                        body="x" * 200, fields=StartalkFields()))


async def stored(outbox: SqliteOutbox) -> list[int]:
    return [r.seq for r in await outbox.load()]


async def test_the_file_is_held_by_the_outbox_alone(db: Database) -> None:
    """One connection holds the outbox's file for the whole run: commits take no lock, and
    another process (a second daemon on the same store) cannot open it."""
    outbox = SqliteOutbox(db)
    await outbox.open()
    await outbox.commit([row(1)], None, [])
    other = sqlite3.connect(outbox_path(db.path), timeout=0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        other.execute("SELECT count(*) FROM outbox").fetchall()
    other.close()
    with pytest.raises(OutboxFileInUse):
        await SqliteOutbox(db).open()
    assert not (outbox_path(db.path).parent / f"{outbox_path(db.path).name}-shm").exists()
    await outbox.close()
    reopened = SqliteOutbox(db)
    await reopened.open()  # released at close
    assert await stored(reopened) == [1]
    await reopened.close()


async def test_other_errors_are_not_retried(db: Database) -> None:
    outbox = SqliteOutbox(db)
    await outbox.open()
    await outbox.commit([row(1)], None, [])
    with pytest.raises(sqlite3.IntegrityError):
        await outbox.commit([row(2), row(1)], None, [])  # seq 1 again: rolled back whole
    assert await stored(outbox) == [1]
    await outbox.close()


async def test_restart_continues_after_the_highest_pending_row(db: Database) -> None:
    outbox = SqliteOutbox(db)
    await outbox.open()
    assert await outbox.last_seq() == 0
    await outbox.commit([row(1), row(2), row(3)], None, [])
    await outbox.commit([], 2, [])
    await outbox.close()
    reopened = SqliteOutbox(db)
    await reopened.open()
    assert await reopened.last_seq() == 3
    assert await stored(reopened) == [3]
    await reopened.commit([], 3, [])
    assert await reopened.last_seq() == 0  # empty: nothing to be ordered after
    await reopened.close()


async def test_rows_of_the_stores_old_tables_move_to_the_outbox_file(tmp_path: Path) -> None:
    """A store written by a daemon before the outbox's own file: its pending rows and
    remembered ids are moved at the first start, and its tables dropped."""
    store = tmp_path / "old.db"
    old = sqlite3.connect(store, isolation_level=None)
    for script in MIGRATIONS[:3]:
        old.executescript(script)
    old.execute("PRAGMA user_version = 3")
    message = row(7).stanza
    old.execute("INSERT INTO outbox VALUES (7, ?, ?, ?, ?, ?, 1.0)",
                (message.id, message.kind, str(message.sender), str(message.recipient),
                 message.data))
    old.execute("INSERT INTO accepted_ids VALUES ('alice@qtalk.test.org m7', 5.0)")
    old.close()
    db = await Database.open(store)
    outbox = SqliteOutbox(db)
    await outbox.open()
    assert [(r.seq, r.stanza) for r in await outbox.load()] == [(7, message)]
    assert await outbox.accepted_ids() == [("alice@qtalk.test.org m7", 5.0)]
    assert await outbox.last_seq() == 7
    async with db.conn.execute("SELECT name FROM sqlite_master WHERE name IN "
                               "('outbox', 'accepted_ids')") as cursor:
        assert await cursor.fetchall() == []
    await outbox.close()
    await db.close()


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
    file = outbox_path(db.path)
    size_before = file.stat().st_size
    for seq in range(1, 21):
        await outbox.commit([row(seq)], None, [])
    await outbox.close()  # waits for a checkpoint still running
    assert threads
    assert all(name.startswith("outbox-writer") for name in threads)
    assert file.stat().st_size > size_before  # the rows reached the file itself


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
    assert await stored(outbox) == [1]
    await outbox.close()


async def test_deleted_rows_are_not_zeroed(db: Database) -> None:
    """secure_delete is off whatever the SQLite build's default (Debian's is on): a settled
    row is deleted at a quarter of the cost."""
    outbox = SqliteOutbox(db)
    await outbox.open()
    assert outbox._conn is not None
    assert outbox._conn.execute("PRAGMA secure_delete").fetchone() == (0,)
    await outbox.commit([row(1), row(2)], None, [])
    await outbox.commit([], 1, [])
    assert await stored(outbox) == [2]
    await outbox.close()
