"""The four kinds of state a cluster shares, in Redis: the same interfaces as their SQLite
stores (KeyStorage, HostStorage, IdempotencyStorage), and caller message ids.

* user keys: `<prefix>key:<host>:<user>:<sha256>` with the key's expiry as its TTL, and per
  user a sorted set of their hashes by mint time, to retire the oldest beyond KEEP_PER_USER;
* runtime hosts: a sorted set by time added, and a channel every daemon listens on;
* Idempotency-Key answers and caller message ids: claims (component/store/shared.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

from component.errors import SharedStateUnavailable
from component.store.idempotency import DEFAULT_TTL, StoredAnswer
from component.store.keys import KEEP_PER_USER
from component.store.shared import RedisClaims, SharedRedis

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)
IDEMPOTENCY_HOLD = 60.0  # seconds another daemon waits for a first run that went silent
CALLER_ID_HOLD = 30.0  # a message is committed within milliseconds of its claim
REMEMBER_IDS_SECONDS = 24 * 3600.0
WATCH_BACKOFF = (0.1, 5.0)  # seconds between attempts to listen again: first, most


class RedisKeyStore:
    def __init__(self, redis: SharedRedis) -> None:
        self._redis = redis

    async def add(self, host: str, user: str, key_sha256: str, created_at: float,
                  expires_at: float) -> None:
        owner = self._redis.name("key", host, user)
        expires_ms = int(expires_at * 1000)

        def mint(r: Redis) -> Awaitable[list[object]]:
            pipe = r.pipeline(transaction=True)
            pipe.set(f"{owner}:{key_sha256}", b"1", pxat=expires_ms)
            pipe.zadd(owner, {key_sha256: created_at})
            pipe.pexpireat(owner, expires_ms)  # every key lives as long: the newest decides
            pipe.zrange(owner, 0, -(KEEP_PER_USER + 1))  # beyond the newest KEEP_PER_USER
            return pipe.execute()

        retired = cast("list[bytes]", (await self._redis.call("minting a key", mint))[-1])
        if retired:
            await self._redis.call("retiring old keys", lambda r: self._retire(r, owner, retired))

    @staticmethod
    def _retire(r: Redis, owner: str, hashes: list[bytes]) -> Awaitable[list[object]]:
        pipe = r.pipeline(transaction=True)
        pipe.delete(*(f"{owner}:{sha.decode()}" for sha in hashes))
        pipe.zrem(owner, *hashes)
        return pipe.execute()

    async def valid(self, host: str, user: str, key_sha256: str, now: float) -> bool:
        name = self._redis.name("key", host, user, key_sha256)
        return bool(await self._redis.call("checking a key", lambda r: r.exists(name)))


class RedisHostStore:
    def __init__(self, redis: SharedRedis) -> None:
        self._redis = redis
        self._set = redis.name("hosts")
        self._channel = redis.name("hosts", "added")

    async def all(self) -> list[str]:
        found = await self._redis.call("reading hosts", lambda r: cast(
            "Awaitable[list[bytes]]", r.zrange(self._set, 0, -1)))
        return [domain.decode() for domain in found]

    async def add(self, domain: str) -> None:
        def add_and_tell(r: Redis) -> Awaitable[list[object]]:
            pipe = r.pipeline(transaction=True)
            pipe.zadd(self._set, {domain: time.time()}, nx=True)
            pipe.publish(self._channel, domain)
            return pipe.execute()

        await self._redis.call("adding a host", add_and_tell)

    async def watch(self, serve: Callable[[str], None]) -> None:
        """Serve every host another daemon adds, for as long as the daemon runs: listen, then
        read the whole set (what was added while nobody listened), again after every outage."""
        backoff = WATCH_BACKOFF[0]
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                for domain in await self.all():
                    serve(domain)
                backoff = WATCH_BACKOFF[0]
                async for message in pubsub.listen():
                    serve(bytes(message["data"]).decode())
            except SharedStateUnavailable:
                pass  # logged where it happened; listen again after a pause
            except Exception as exc:
                if not self._redis.is_connection_error(exc):
                    raise
                self._redis.lost("listening for added hosts", exc)
            finally:
                await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, WATCH_BACKOFF[1])


class RedisIdempotencyStore:
    """Answers kept DEFAULT_TTL seconds as `<status:3><request sha256:64><body>`."""

    def __init__(self, redis: SharedRedis, *, ttl: float = DEFAULT_TTL) -> None:
        self._claims = RedisClaims(redis, "idem", hold=IDEMPOTENCY_HOLD)
        self.ttl = ttl

    async def claim(self, key: str) -> StoredAnswer | None:
        value = await self._claims.claim(key)
        if value is None:
            return None
        return StoredAnswer(int(value[:3]), value[67:], value[3:67].decode())

    async def put(self, key: str, answer: StoredAnswer) -> None:
        value = f"{answer.status:03d}{answer.request_sha256}".encode() + answer.body
        await self._claims.settle([key], value, ttl=self.ttl)

    async def release(self, key: str) -> None:
        await self._claims.release([key])

    async def prune(self) -> int:
        return 0  # Redis expires answers itself


class RedisCallerIds:
    """Caller message ids: claimed before the message is accepted, settled once it is."""

    def __init__(self, redis: SharedRedis) -> None:
        self._claims = RedisClaims(redis, "msgid", hold=CALLER_ID_HOLD)

    async def claim(self, keys: list[str]) -> dict[str, str]:
        """Claim each id; those another daemon accepted before, with their state."""
        taken = await self._claims.claim_all(keys)
        return {key: value.decode() for key, value in taken.items()}

    async def accepted(self, keys: list[str]) -> None:
        await self._claims.settle(keys, b"accepted", ttl=REMEMBER_IDS_SECONDS)

    async def release(self, keys: list[str]) -> None:
        await self._claims.release(keys)
