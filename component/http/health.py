"""Liveness and readiness, without credentials: `/healthz` (process up), `/readyz`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from component.http.envelope import envelope


def add_health_routes(app: web.Application, *, link_up: Callable[[], bool],
                      store_writable: Callable[[], Awaitable[bool]]) -> None:
    async def healthz(request: web.Request) -> web.Response:
        return envelope(True, 0, "alive", "")

    async def readyz(request: web.Request) -> web.Response:
        checks = {"link": link_up(), "store": await store_writable()}
        ready = all(checks.values())
        return envelope(ready, 0 if ready else 2001, "ready" if ready else "not ready",
                        checks, status=200 if ready else 503)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
