"""A route of the original API: its path under /qtalk/, allowed methods and handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    path: str  # after /qtalk/, e.g. "send_message" or "management/get_muc_opts"
    methods: frozenset[str]
    handler: Handler
    mutating: bool = True  # audited, idempotency keys apply


POST = frozenset({"POST"})

# aiohttp's route object (one per registered path) → our Route, so that middlewares know
# whether a request is mutating (audit, idempotency) and which endpoint it names (scopes).
ROUTES = web.AppKey("qtalk_routes", dict[web.AbstractRoute, Route])


def route_of(request: web.Request) -> Route | None:
    """The Route a request matched; None for an unknown path or one outside /qtalk/."""
    return request.app[ROUTES].get(request.match_info.route) if ROUTES in request.app else None
