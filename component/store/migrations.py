"""Numbered schema migrations; the list index + 1 is the `PRAGMA user_version` it leads to.

Never edit a released migration: append a new one.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: everything the daemon keeps (DESIGN.md §6).
    """
    CREATE TABLE rooms (
        jid TEXT PRIMARY KEY,                -- room@muc_domain, lower-case
        name TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        picture TEXT NOT NULL DEFAULT '',
        version INTEGER NOT NULL DEFAULT 1,  -- group profile version (send_notice_vcard)
        options TEXT NOT NULL DEFAULT '{}',  -- JSON: the room's config form values
        created_here INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        synced_at REAL NOT NULL DEFAULT 0    -- last time the server's view was read
    );
    CREATE TABLE affiliations (
        room TEXT NOT NULL REFERENCES rooms(jid) ON DELETE CASCADE,
        user TEXT NOT NULL,                  -- bare JID
        affiliation TEXT NOT NULL CHECK (affiliation IN ('owner', 'admin', 'member')),
        nick TEXT NOT NULL DEFAULT '',
        since REAL NOT NULL,                 -- when the user joined: owner hand-over order
        PRIMARY KEY (room, user)
    );
    CREATE INDEX affiliations_by_user ON affiliations(user);
    CREATE TABLE vcards (
        jid TEXT PRIMARY KEY,
        found INTEGER NOT NULL,              -- 0: the server knows no such user / no vCard
        nick TEXT NOT NULL DEFAULT '',
        photo TEXT NOT NULL DEFAULT '',      -- URL (EXTVAL) or our stable download path
        photo_type TEXT NOT NULL DEFAULT '',
        photo_data BLOB,                     -- inline BINVAL photos, served by the daemon
        fetched_at REAL NOT NULL
    );
    CREATE TABLE hosts (
        domain TEXT PRIMARY KEY,             -- user domains added at runtime (add_host)
        added_at REAL NOT NULL
    );
    CREATE TABLE user_keys (
        host TEXT NOT NULL,
        user TEXT NOT NULL,                  -- local part
        key_sha256 TEXT NOT NULL,            -- only a hash of the key is kept
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (host, user, key_sha256)
    );
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        stanza_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        sender TEXT NOT NULL,
        recipient TEXT NOT NULL,
        data BLOB NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE idempotency (
        key TEXT PRIMARY KEY,                -- integrator name + endpoint + caller's key
        status INTEGER NOT NULL,
        body BLOB NOT NULL,
        created_at REAL NOT NULL
    );
    """,
    # 2: caller-supplied message ids already accepted (a retried message is not sent twice).
    """
    CREATE TABLE accepted_ids (
        key TEXT PRIMARY KEY,                -- sender bare JID + " " + stanza id
        accepted_at REAL NOT NULL
    );
    CREATE INDEX accepted_ids_by_time ON accepted_ids(accepted_at);
    """,
    # 3: Idempotency-Key answers remember the request they answered (a key reused for another
    # body is refused), and expire by time.
    """
    ALTER TABLE idempotency ADD COLUMN request_sha256 TEXT NOT NULL DEFAULT '';
    CREATE INDEX idempotency_by_time ON idempotency(created_at);
    """,
    # 4: the outbox and the caller ids live in the outbox's own file (store/outbox_file.py),
    # which copies the rows of the two tables above at its first start and drops them. The
    # version marks the store as one that a daemon before that move must not open.
    "",
]
