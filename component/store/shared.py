"""The state every daemon of a cluster shares, in Redis (DESIGN.md §9, `[shared] redis_url`).

One client per daemon; its names start with `qc:<component domain>:`, so one Redis database
can hold several deployments. A Redis that cannot be reached becomes SharedStateUnavailable
(503 with Retry-After) for the request that needed it; the client connects again by itself at
the next command, so nothing has to be restarted when Redis returns.

A claim is how daemons agree on who runs something once (an Idempotency-Key, a caller's
message id): `SET name PENDING NX PX hold`. The winner settles it with the answer, or
releases it; the others wait for that answer. A winner that dies holds it `hold` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar, cast

from component.errors import SharedStateUnavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)
T = TypeVar("T")
TIMEOUT = 2.0  # seconds a command may take before Redis counts as unreachable
RETRY_AFTER = 2  # seconds, for callers refused while it is
PENDING = b"\x00pending"  # a claim whose winner is still running
POLL = 0.02  # seconds between looks at a claim another daemon holds


class SharedRedis:
    """The daemon's Redis client for shared state, and whether Redis answered last time."""

    def __init__(self, url: str, namespace: str) -> None:
        # Imported here: the client library costs ~19 MB of RSS, and a daemon without
        # [shared] never needs it.
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        self._errors = (RedisError, OSError, asyncio.TimeoutError)
        self.client: Redis = aioredis.from_url(url, socket_timeout=TIMEOUT,
                                               socket_connect_timeout=TIMEOUT)
        self.prefix = f"qc:{namespace}:"
        self.reachable = True

    def name(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def call(self, what: str, command: Callable[[Redis], Awaitable[T]]) -> T:
        """Run one command (or pipeline); a failure becomes SharedStateUnavailable."""
        try:
            result = await command(self.client)
        except self._errors as exc:
            self.lost(what, exc)
            raise SharedStateUnavailable("the shared state (Redis) cannot be reached",
                                         retry_after=RETRY_AFTER) from None
        if not self.reachable:
            log.info("shared state (Redis) reachable again")
        self.reachable = True
        return result

    def lost(self, what: str, exc: BaseException) -> None:
        """Note a failed command (logged once per outage)."""
        if self.reachable:
            log.warning("shared state (Redis) unreachable while %s: %s", what, exc)
        self.reachable = False

    async def ping(self) -> bool:
        """For /readyz: does Redis answer now?"""
        try:
            await self.call("checking readiness", lambda r: r.ping())
        except SharedStateUnavailable:
            return False
        return True

    def pubsub(self) -> PubSub:
        return self.client.pubsub(ignore_subscribe_messages=True)

    def is_connection_error(self, exc: BaseException) -> bool:
        return isinstance(exc, self._errors)

    async def close(self) -> None:
        await self.client.aclose()


class RedisClaims:
    """Run-once claims over SharedRedis (see the module docstring)."""

    def __init__(self, redis: SharedRedis, kind: str, *, hold: float) -> None:
        self._redis = redis
        self._kind = kind
        self._hold_ms = int(hold * 1000)

    async def claim(self, key: str) -> bytes | None:
        """None: the key is ours now, until settle() or release(); else the value another
        daemon settled it with (after waiting for it while that one runs)."""
        name = self._redis.name(self._kind, key)
        deadline = time.monotonic() + self._hold_ms / 1000 + 1.0
        def set_or_get(r: Redis) -> Awaitable[list[object]]:
            pipe = r.pipeline(transaction=True)  # MULTI: nobody settles between the two
            pipe.set(name, PENDING, nx=True, px=self._hold_ms)
            pipe.get(name)
            return pipe.execute()

        while True:
            won, value = await self._redis.call(f"claiming a {self._kind}", set_or_get)
            if won:
                return None
            if value is not None and value != PENDING:
                return cast(bytes, value)
            if time.monotonic() > deadline:  # cannot happen unless Redis lost the TTL
                raise SharedStateUnavailable(f"a {self._kind} stays claimed",
                                             retry_after=RETRY_AFTER)
            await asyncio.sleep(POLL)  # the winner is running: its answer comes soon

    async def claim_all(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Claim each key; returns the ones others settled before, with their values."""
        names = [self._redis.name(self._kind, key) for key in keys]

        def set_each(r: Redis) -> Awaitable[list[bool | None]]:
            pipe = r.pipeline(transaction=False)
            for name in names:
                pipe.set(name, PENDING, nx=True, px=self._hold_ms)
            return cast("Awaitable[list[bool | None]]", pipe.execute())

        won = await self._redis.call(f"claiming {self._kind}s", set_each) if keys else []
        taken = {}
        for key, ours in zip(keys, won, strict=True):
            if not ours and (value := await self.claim(key)) is not None:
                taken[key] = value
        return taken

    async def settle(self, keys: Sequence[str], value: bytes, *, ttl: float) -> None:
        """Replace our claims with their value, kept `ttl` seconds."""
        def set_each(r: Redis) -> Awaitable[list[bool]]:
            pipe = r.pipeline(transaction=False)
            for key in keys:
                pipe.set(self._redis.name(self._kind, key), value, px=int(ttl * 1000))
            return cast("Awaitable[list[bool]]", pipe.execute())

        if keys:
            await self._redis.call(f"settling {self._kind}s", set_each)

    async def release(self, keys: Sequence[str]) -> None:
        """Give our claims up: whoever asks next runs it."""
        if keys:
            names = [self._redis.name(self._kind, key) for key in keys]
            await self._redis.call(f"releasing {self._kind}s", lambda r: r.delete(*names))
