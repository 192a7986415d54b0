"""Liveness and readiness, without credentials: `/healthz` (process up), `/readyz`.

`/readyz` names each part and whether it works. The shared state of a cluster (Redis) is
reported but does not make a daemon unready: every daemon shares the one Redis, so a balancer
that took them out for it would stop message injection too, which does not need it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from component.http.envelope import Answer, answer
from component.http.route import GET, Request, Route


def health_routes(*, link_up: Callable[[], bool], store_writable: Callable[[], Awaitable[bool]],
                  shared_reachable: Callable[[], Awaitable[bool]] | None = None) -> list[Route]:
    async def healthz(request: Request) -> Answer:
        return answer(True, 0, "alive", "")

    async def readyz(request: Request) -> Answer:
        checks = {"link": link_up(), "store": await store_writable()}
        ready = all(checks.values())
        message = "ready" if ready else "not ready"
        if shared_reachable is not None:
            checks["shared"] = await shared_reachable()
            if not checks["shared"]:
                message += "; shared state (Redis) unreachable"
        return answer(ready, 0 if ready else 2001, message, checks,
                      status=200 if ready else 503)

    return [Route("/healthz", GET, healthz, mutating=False, public=True),
            Route("/readyz", GET, readyz, mutating=False, public=True)]
