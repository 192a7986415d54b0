"""The outbox's file and its transactions: on the loop, never stalling it."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from component.jid import Jid
from component.store import outbox as outbox_module
from component.store import outbox_file
from component.store.db import Database
from component.store.migrations import MIGRATIONS
from component.store.outbox import SqliteOutbox
from component.store.outbox_file import OutboxFileInUse, outbox_path
from component.xmpp import muc
from component.xmpp.fragment import parse_message, prepare_message
from component.xmpp.stanza_values import OutboxRow, Stanza
from component.xmpp.stanzas import StartalkFields, build_message, build_notify

ALICE = Jid.parse("alice@qtalk.test.org")
BOB = Jid.parse("bob@qtalk.test.org")


def row(seq: int) -> OutboxRow:
    return OutboxRow(seq, build_message(ALICE, BOB, stanza_id=f"m{seq}", msg_type="chat",
                                        body="x" * 200, fields=StartalkFields()))


async def stored(outbox: SqliteOutbox) -> list[int]:
    return [r.seq for r in await outbox.load()]


def every_kind() -> list[Stanza]:
    """Stanzas as the services build them: each builder's own serialisation, values that
    need escaping, a resource, a caller's message with attributes of its own."""
    room = Jid.parse("room@conference.qtalk.test.org")
    caller = parse_message("<message type='chat' a='1'><body>hi &amp; bye</body></message>",
                           10_000)
    return [
        build_message(ALICE, BOB, stanza_id="m'1", msg_type="chat", body="<&>\"'",
                      fields=StartalkFields(msg_type="1", extend_info="{\"a\": \"<b>\"}")),
        build_notify(ALICE, BOB, stanza_id="n1", category="c&d", data="x"),
        prepare_message(caller, ALICE, BOB),
        muc.join(ALICE, room, "nick with space", stanza_id="j1"),
        muc.leave(ALICE, room, "nick", stanza_id="l1"),
        muc.invitation(ALICE, BOB, room, stanza_id="i1", reason="come"),
    ]


# The outbox file as daemons before schema version 2 created it.
SCHEMA_VERSION_1 = """
CREATE TABLE outbox (seq INTEGER PRIMARY KEY, stanza_id TEXT NOT NULL, kind TEXT NOT NULL,
                     sender TEXT NOT NULL, recipient TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE accepted_ids (accepted_at REAL NOT NULL, key TEXT NOT NULL,
                           PRIMARY KEY (accepted_at, key)) WITHOUT ROWID;
PRAGMA user_version = 1;
"""


def write_version_1_file(store: Path, stanzas: list[Stanza]) -> None:
    with contextlib.closing(sqlite3.connect(outbox_path(store))) as old:
        old.executescript(SCHEMA_VERSION_1)
        with old:
            old.executemany("INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?)",
                            [(seq, s.id, s.kind, str(s.sender), str(s.recipient), s.data)
                             for seq, s in enumerate(stanzas, start=10)])
            old.execute("INSERT INTO accepted_ids VALUES (5.0, 'alice@qtalk.test.org m1')")


async def test_rows_are_read_back_from_their_bytes(db: Database) -> None:
    """A row keeps the stanza's bytes alone; load() finds kind, id and addresses in them."""
    outbox = SqliteOutbox(db)
    await outbox.open()
    written = [OutboxRow(seq, stanza) for seq, stanza in enumerate(every_kind(), start=1)]
    await outbox.commit(written, None, [])
    assert await outbox.load() == written
    assert outbox._conn is not None
    assert [column[1] for column in outbox._conn.execute("PRAGMA table_info(outbox)")] == \
        ["seq", "data", "parts"]
    assert outbox._conn.execute("SELECT seq, data FROM outbox").fetchall() == \
        [(len(written), b"".join(r.stanza.data for r in written))]  # one row a transaction
    await outbox.close()


async def test_a_row_leaves_once_its_last_stanza_is_acknowledged(db: Database) -> None:
    """A transaction's row keeps each stanza's own seq (gaps too: carbons are numbered but
    not kept), and stays while any of them is not acknowledged."""
    outbox = SqliteOutbox(db)
    await outbox.open()
    await outbox.commit([row(1), row(2)], None, [])
    await outbox.commit([row(4), row(7), row(8)], None, [])
    await outbox.commit([row(9)], None, [])
    assert await outbox.load() == [row(1), row(2), row(4), row(7), row(8), row(9)]
    assert await outbox.load({2, 7}) == [row(2), row(7)]
    assert await outbox.last_seq() == 9
    await outbox.commit([], 7, [])
    assert await stored(outbox) == [4, 7, 8, 9]  # replayed whole after a restart
    await outbox.commit([], 8, [])
    assert await stored(outbox) == [9]
    await outbox.close()


async def test_a_version_2_file_is_migrated_and_replays_the_same_stanzas(
        db: Database) -> None:
    await db.close()
    pending = every_kind()
    with contextlib.closing(sqlite3.connect(outbox_path(db.path))) as old:
        old.executescript("""
            CREATE TABLE outbox (seq INTEGER PRIMARY KEY, data BLOB NOT NULL);
            CREATE TABLE accepted_ids (accepted_at REAL NOT NULL, key TEXT NOT NULL,
                                       PRIMARY KEY (accepted_at, key)) WITHOUT ROWID;
            PRAGMA user_version = 2;""")
        with old:
            old.executemany("INSERT INTO outbox VALUES (?, ?)",
                            [(seq, s.data) for seq, s in enumerate(pending, start=10)])
    outbox = SqliteOutbox(db)
    await outbox.open()
    assert [(r.seq, r.stanza) for r in await outbox.load()] == \
        list(enumerate(pending, start=10))
    assert outbox._conn is not None
    assert outbox._conn.execute("PRAGMA user_version").fetchone() == (3,)
    await outbox.commit([row(20), row(21)], 12, [])
    assert await stored(outbox) == [*range(13, 10 + len(pending)), 20, 21]
    await outbox.close()


async def test_a_row_whose_parts_do_not_match_is_logged_and_dropped(
        db: Database, caplog: pytest.LogCaptureFixture) -> None:
    outbox = SqliteOutbox(db)
    await outbox.open()
    await outbox.commit([row(1)], None, [])
    assert outbox._conn is not None
    data = row(2).stanza.data + row(3).stanza.data
    for seq, parts in ((3, b"\x92\x92\x02\x03\x91\x05"), (4, b"not msgpack")):
        outbox._conn.execute("INSERT INTO outbox VALUES (?, ?, ?)", (seq, data, parts))
    await outbox.commit([row(5), row(6)], None, [])
    with caplog.at_level(logging.ERROR, logger=outbox_module.__name__):
        assert await outbox.load() == [row(1), row(5), row(6)]
    assert "outbox row 3 cannot be read back, dropped" in caplog.text
    assert "outbox row 4 cannot be read back, dropped" in caplog.text
    await outbox.close()


async def test_a_version_1_file_is_migrated_and_replays_the_same_stanzas(
        db: Database) -> None:
    await db.close()  # the daemon of version 1 left its file; this one starts on it
    pending = every_kind()
    write_version_1_file(db.path, pending)
    outbox = SqliteOutbox(db)
    await outbox.open()
    assert [(r.seq, r.stanza) for r in await outbox.load()] == \
        list(enumerate(pending, start=10))
    assert await outbox.last_seq() == 9 + len(pending)
    assert await outbox.accepted_ids() == [("alice@qtalk.test.org m1", 5.0)]
    assert outbox._conn is not None
    assert outbox._conn.execute("PRAGMA user_version").fetchone() == (3,)
    assert [name for (name,) in outbox._conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")] == \
        ["accepted_ids", "outbox"]
    await outbox.close()


async def test_a_migration_that_fails_midway_keeps_the_version_1_rows(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The migration is one transaction: failing after the old table was renamed and the new
    one created (as a crash would), it leaves the old file as it was, migrated at the next
    open."""
    await db.close()
    pending = every_kind()
    write_version_1_file(db.path, pending)
    monkeypatch.setattr(outbox_file, "OUTBOX_TABLE",
                        "CREATE TABLE outbox (seq INTEGER PRIMARY KEY, data BLOB CHECK (0))")
    with pytest.raises(sqlite3.IntegrityError):
        await SqliteOutbox(db).open()
    monkeypatch.undo()
    with contextlib.closing(sqlite3.connect(outbox_path(db.path))) as untouched:
        assert untouched.execute("PRAGMA user_version").fetchone() == (1,)
        assert untouched.execute("SELECT count(*) FROM outbox").fetchone() == (len(pending),)
    outbox = SqliteOutbox(db)
    await outbox.open()
    assert [r.stanza for r in await outbox.load()] == pending
    await outbox.close()


async def test_a_file_of_a_newer_schema_is_refused(db: Database) -> None:
    await db.close()
    with contextlib.closing(sqlite3.connect(outbox_path(db.path))) as newer:
        newer.execute("PRAGMA user_version = 4")
    with pytest.raises(RuntimeError, match="version 4, newer"):
        await SqliteOutbox(db).open()


@pytest.mark.parametrize("data", [
    b"\x00\xffnot xml",
    b"<message id='x' from='alice@qtalk.test.org' to='bob@qtalk.test.org'><body>cut",
    b"<!DOCTYPE m [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><message id='x'/>",
    b"<message id='x' from='alice@qtalk.test.org'/>",  # no recipient
    b"<message id='x' from='@qtalk.test.org' to='bob@qtalk.test.org'/>",  # a bad address
    b"<stream id='x' from='alice@qtalk.test.org' to='bob@qtalk.test.org'/>",
])
async def test_a_row_that_cannot_be_read_back_is_logged_and_dropped(
        db: Database, data: bytes, caplog: pytest.LogCaptureFixture) -> None:
    """A damaged row does not hold back the start, nor the rows around it."""
    outbox = SqliteOutbox(db)
    await outbox.open()
    await outbox.commit([row(1)], None, [])
    assert outbox._conn is not None
    outbox._conn.execute("INSERT INTO outbox (seq, data) VALUES (2, ?)", (data,))
    await outbox.commit([row(3)], None, [])
    with caplog.at_level(logging.ERROR, logger=outbox_module.__name__):
        assert await outbox.load() == [row(1), row(3)]
    assert "outbox row 2 cannot be read back, dropped" in caplog.text
    await outbox.commit([], 3, [])  # acknowledged past it: the row leaves with the others
    assert outbox._conn.execute("SELECT count(*) FROM outbox").fetchone() == (0,)
    await outbox.close()


async def test_a_replay_reads_back_only_the_rows_it_asks_for(
        db: Database, caplog: pytest.LogCaptureFixture) -> None:
    """After a lost link the delivery wants a few settled rows among every pending one: the
    others are not parsed (a damaged one among them is not even looked at)."""
    outbox = SqliteOutbox(db)
    await outbox.open()
    await outbox.commit([row(1), row(3)], None, [])
    assert outbox._conn is not None
    outbox._conn.execute("INSERT INTO outbox (seq, data) VALUES (2, ?)", (b"not xml",))
    with caplog.at_level(logging.ERROR, logger=outbox_module.__name__):
        assert await outbox.load({3}) == [row(3)]
    assert "cannot be read back" not in caplog.text
    await outbox.close()


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
    for seq in (1, 2, 3):
        await outbox.commit([row(seq)], None, [])
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
    assert outbox._conn is not None
    assert outbox._conn.execute("SELECT seq, data FROM outbox").fetchall() == \
        [(7, message.data)]
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
    await outbox.commit([row(1)], None, [])
    await outbox.commit([row(2)], None, [])
    await outbox.commit([], 1, [])
    assert await stored(outbox) == [2]
    await outbox.close()


async def test_a_transaction_that_fails_inside_is_rolled_back_whole(db: Database) -> None:
    """A statement failing inside the transaction, after another went through, leaves
    nothing of it and no transaction open: the next commit goes through."""
    outbox = SqliteOutbox(db)
    await outbox.open()
    await outbox.commit([row(1)], None, [])
    assert outbox._conn is not None
    outbox._conn.execute("CREATE TEMP TRIGGER refuse BEFORE INSERT ON accepted_ids "
                         "BEGIN SELECT RAISE(ABORT, 'refused'); END")
    with pytest.raises(sqlite3.IntegrityError, match="refused"):
        await outbox.commit([row(2)], None, ["caller-key"])  # its row is written first
    assert not outbox._conn.in_transaction
    assert await stored(outbox) == [1]
    outbox._conn.execute("DROP TRIGGER refuse")
    await outbox.commit([row(3)], 1, ["caller-key"])
    assert await stored(outbox) == [3]
    assert [key for key, _ in await outbox.accepted_ids()] == ["caller-key"]
    await outbox.close()
