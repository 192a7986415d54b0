"""Where user keys (auth_uk) live: our own table of hashed keys, or Startalk's Redis.

The store keeps only the SHA-256 of each key, with its expiry; Startalk's login wrote
`HSET <user>@<domain> <key> <resource>` into Redis db 2 (original-behaviour.md §4.3, §6),
so a deployment that still has that Redis can point the daemon at it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import cast

from component.errors import KeysUnavailable
from component.store.db import Database, run

log = logging.getLogger(__name__)
KEEP_PER_USER = 20  # keys a user may hold at once; minting more retires the oldest
REDIS_TIMEOUT = 2.0


class KeyStore:
    def __init__(self, db: Database) -> None:
        self._conn = db.conn

    async def add(self, host: str, user: str, key_sha256: str, created_at: float,
                  expires_at: float) -> None:
        await run(self._conn, "DELETE FROM user_keys WHERE expires_at <= ?", (created_at,))
        await run(self._conn,
            "INSERT INTO user_keys (host, user, key_sha256, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)", (host, user, key_sha256, created_at, expires_at))
        await run(self._conn,
            "DELETE FROM user_keys WHERE host = ? AND user = ? AND key_sha256 NOT IN ("
            "SELECT key_sha256 FROM user_keys WHERE host = ? AND user = ? "
            "ORDER BY created_at DESC LIMIT ?)", (host, user, host, user, KEEP_PER_USER))

    async def valid(self, host: str, user: str, key_sha256: str, now: float) -> bool:
        async with self._conn.execute(
                "SELECT 1 FROM user_keys WHERE host = ? AND user = ? AND key_sha256 = ? "
                "AND expires_at > ?", (host, user, key_sha256, now)) as cursor:
            return await cursor.fetchone() is not None


class RedisKeys:
    """Startalk's login keys: `HGET <name> <key>` on the configured db (2 by default); any
    value means the key is valid, as in the original."""

    def __init__(self, url: str) -> None:
        # Imported here: the client library is about a third of the daemon's memory at
        # start (measured: 19 MB of RSS), and most deployments keep keys in SQLite.
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        self._errors = (RedisError, OSError)
        self._client = aioredis.from_url(url, socket_timeout=REDIS_TIMEOUT,
                                         socket_connect_timeout=REDIS_TIMEOUT)

    async def valid(self, name: str, key: str) -> bool:
        try:
            value = await cast("Awaitable[bytes | None]", self._client.hget(name, key))
        except self._errors as exc:
            log.warning("Redis key lookup failed: %s", exc)
            raise KeysUnavailable("the key store (Redis) cannot be reached") from None
        return value is not None

    async def close(self) -> None:
        await self._client.aclose()
