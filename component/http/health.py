"""Liveness and readiness, without credentials: `/healthz` (process up), `/readyz`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from component.http.envelope import Answer, answer
from component.http.route import GET, Request, Route


def health_routes(*, link_up: Callable[[], bool],
                  store_writable: Callable[[], Awaitable[bool]]) -> list[Route]:
    async def healthz(request: Request) -> Answer:
        return answer(True, 0, "alive", "")

    async def readyz(request: Request) -> Answer:
        checks = {"link": link_up(), "store": await store_writable()}
        ready = all(checks.values())
        return answer(ready, 0 if ready else 2001, "ready" if ready else "not ready",
                      checks, status=200 if ready else 503)

    return [Route("/healthz", GET, healthz, mutating=False, public=True),
            Route("/readyz", GET, readyz, mutating=False, public=True)]
