"""The outbox's own SQLite file, held by one connection for the daemon's whole run.

The outbox is written once or more per loop turn under load, so what each commit costs in
syscalls counts. In the shared store every commit took and released the WAL's locks (six
fcntl calls), and AUTOINCREMENT rewrote the `sqlite_sequence` page (two more pwrite64 calls).
Here the file is opened with `locking_mode = EXCLUSIVE` before WAL is entered: SQLite takes
the file's lock once, keeps the WAL index in memory (no -shm file), and a commit is the WAL
frames of the pages it changed and nothing else. Nothing else may open the file while the
daemon runs (a second daemon on the same store is refused at start), and its checkpoints
run on the same connection (outbox.py).

Sequence numbers are given by the delivery and rise; after a restart it continues from the
highest pending row (an empty outbox may start anywhere), so no table of sequences is kept.
Caller ids are keyed by (time, id): inserts land on the rightmost page, and the 24-hour
expiry is a range delete at the left end, with no second index to keep.

A row is what one transaction kept: the stanzas' bytes one after another, keyed by the last
one's sequence number, with the sequence numbers and lengths of its stanzas (`parts`, NULL when
it holds one stanza: the row of version 2). Their kind, id and addresses are in those bytes,
and are read from them when the outbox is loaded (at start, and for a replay after a lost
link), never on the hot path. Version 2 kept a row per stanza: every commit inserted each and
the settle deleted each again, some 7,500 instructions a stanza in the sqlite3 module and
SQLite; a group's row is one insert and one delete however many requests it holds
(bench.hotpath --carbons off --upto outbox: 200.8k -> 192.3k instructions a request; WAL
frames 2.9 -> 2.2 a commit, as fewer cells are moved into new leaves). A version 2 file gains
the `parts` column at open, its rows read as they are. Version 1 kept kind, id and addresses
in columns of their own as well; such a file is rewritten at open.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

log = logging.getLogger(__name__)

# Pages of 16 KiB hold some forty stanzas: a commit appends its row to one leaf, and a new
# leaf (with its parent, the header page and the freelist) is needed once its stanzas filled
# one, four times as often with 4 KiB pages (a busy loop turn's row of sixteen requests is
# some 7 KB: then a new leaf every second commit).
PAGE_SIZE = 16384
# Every row is deleted once routed and settled. Debian's SQLite is built with secure_delete on:
# each deleted row's bytes were zeroed and each freed page written to the WAL, zeroed, which
# made the delete cost four times the insert (5.4k instructions a row against 1.4k;
# bench.hotpath --upto outbox 296k -> 289k instructions per request). Zeroing bought no
# privacy here either: the WAL keeps the same bytes until its frames are written over.
SECURE_DELETE = "OFF"
SCHEMA_VERSION = 3
OUTBOX_TABLE = """
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY,             -- its last stanza's sequence number, rising
    data BLOB NOT NULL,                  -- the stanzas as sent, one after another
    parts BLOB                           -- their seqs and lengths (outbox.py), NULL for one
)"""
SCHEMA = OUTBOX_TABLE + """;
CREATE TABLE accepted_ids (
    accepted_at REAL NOT NULL,
    key TEXT NOT NULL,                   -- sender bare JID + " " + stanza id
    PRIMARY KEY (accepted_at, key)
) WITHOUT ROWID;
"""


class OutboxFileInUse(RuntimeError):
    """Another process holds the outbox file: two daemons on one store."""


def outbox_path(store: Path) -> Path:
    """The outbox's file beside the store's: `qtalk-component.db` → `...db.outbox`."""
    return store.with_name(store.name + ".outbox")


def open_outbox_file(store: Path, *, full_sync: bool) -> sqlite3.Connection:
    """Open (and create) the outbox file, take its lock for good, and move into it the
    rows an older daemon left in the store's own tables."""
    path = outbox_path(store)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        try:  # the file's lock is taken by the first statement that reads it, kept to close
            for pragma in ("locking_mode = EXCLUSIVE", "busy_timeout = 0",
                           f"page_size = {PAGE_SIZE}", "journal_mode = WAL",
                           "wal_autocheckpoint = 0", "cache_size = -512",
                           f"secure_delete = {SECURE_DELETE}",
                           # rows rewritten or moved are on the disk before their old copies
                           # are gone (the migration, the store's tables dropped)
                           "synchronous = FULL"):
                conn.execute(f"PRAGMA {pragma}").fetchall()
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            raise OutboxFileInUse(f"{path} is held by another process (is another daemon "
                                  f"running on this store?): {exc}") from exc
        _create_or_migrate(conn, path)
        conn.execute("COMMIT")
        _move_rows_from_store(conn, store)
        conn.execute(f"PRAGMA synchronous = {'FULL' if full_sync else 'NORMAL'}")
    except BaseException:
        conn.close()
        raise
    return conn


def _create_or_migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the file to SCHEMA_VERSION inside the caller's transaction: a crash before its
    commit leaves the old table whole, migrated again at the next start."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == 0:
        for statement in SCHEMA.split(";"):  # executescript would commit first
            conn.execute(statement)
    elif version == 1:  # the pending rows keep their seq and bytes, the rest is in the bytes
        conn.execute("ALTER TABLE outbox RENAME TO outbox_version_1")
        conn.execute(OUTBOX_TABLE)
        conn.execute("INSERT INTO outbox (seq, data) SELECT seq, data FROM outbox_version_1")
        conn.execute("DROP TABLE outbox_version_1")
        log.info("outbox file %s moved to schema version %d", path, SCHEMA_VERSION)
    elif version == 2:  # its rows hold one stanza each: `parts` NULL
        conn.execute("ALTER TABLE outbox ADD COLUMN parts BLOB")
        log.info("outbox file %s moved to schema version %d", path, SCHEMA_VERSION)
    elif version != SCHEMA_VERSION:
        raise RuntimeError(f"{path} has outbox schema version {version}, newer than this "
                           f"daemon's {SCHEMA_VERSION}: start the daemon that wrote it")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _move_rows_from_store(conn: sqlite3.Connection, store: Path) -> None:
    """Daemons before this file kept the outbox and the caller ids in the store's tables
    (migrations 1 and 2): their rows are copied here, synced, and the tables dropped. A crash
    between the two steps copies them again at the next start (the same keys: ignored)."""
    legacy = sqlite3.connect(store, isolation_level=None)
    try:
        legacy.execute("PRAGMA busy_timeout = 5000")
        tables = {name for (name,) in legacy.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name IN ('outbox', 'accepted_ids')")}
        if not tables:
            return
        rows = legacy.execute("SELECT seq, data FROM outbox").fetchall() \
            if "outbox" in tables else []
        ids = legacy.execute("SELECT accepted_at, key FROM accepted_ids").fetchall() \
            if "accepted_ids" in tables else []
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT OR IGNORE INTO outbox (seq, data) VALUES (?, ?)", rows)
            conn.executemany("INSERT OR IGNORE INTO accepted_ids VALUES (?, ?)", ids)
        with legacy:
            legacy.execute("BEGIN IMMEDIATE")
            for table in sorted(tables):
                legacy.execute(f"DROP TABLE {table}")
        log.info("moved %d outbox rows and %d caller ids from %s to %s", len(rows), len(ids),
                 store, outbox_path(store))
    finally:
        legacy.close()
