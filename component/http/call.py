"""What a message handler needs of an HTTP request, whichever server read it.

Message endpoints are served by aiohttp and, for plain requests, by the fast lane
(component/http/fastlane.py). Both hand the handlers a `Call`, and get an `Answer` back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from component.config import Integrator
from component.http import audit
from component.http.auth import integrator_of
from component.http.envelope import Answer


@dataclass(slots=True)
class Call:
    body: bytes
    wait: str | None                # the `?wait=` query value
    integrator: Integrator | None   # None when no credentials are configured
    facts: dict[str, Any]           # this call's audit line

    @classmethod
    async def of(cls, request: web.Request) -> Call:
        return cls(await request.read(), request.query.get("wait"), integrator_of(request),
                   audit.facts_of(request))


CallHandler = Callable[[Call], Awaitable[Answer]]
