"""The SQLite store (aiosqlite, WAL): a cache and an index, never the source of truth."""
