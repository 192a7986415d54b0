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
