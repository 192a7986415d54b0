"""The one request pipeline of port 10050, written once for every route (DESIGN.md §7).

request id → limits → credentials gate → idempotency → handler → envelope and status (the
always_200 switch) → audit line → metrics. The server (component/http/protocol.py) calls it
in three steps: `admit` once the head is read (so that 401, 403, 404, 405, 413 and 429 are
answered before any body is read), `run` once the body is there, and `finish` on every
answer, those of the server's own (400, 408, 431) included.

What a request runs under (the routes with their handlers' limits, the body limit, the gate,
the 200 switch) is one frozen `Settings`, taken when its head is read and kept to its
answer: a reload (component/reload.py) swaps the pipeline's for the next request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote

from component.errors import ApiError, MethodNotAllowed, TooLarge, UnknownPath
from component.http import audit
from component.http.auth import Gate, refusal
from component.http.envelope import Answer, failure_answer, success, unexpected_answer
from component.http.idempotency import Idempotency
from component.http.route import PREFIX, Request, Route
from component.metrics import Metrics

log: Final = logging.getLogger("component.http.server")
_monotonic: Final = time.monotonic  # held: a module's attribute is looked up per call
access_log: Final = logging.getLogger("component.http.access")
UNMATCHED: Final = "unmatched"  # the metrics label of every path without a route


class Routes:
    """Paths to routes: exact ones, with or without a final slash, and `prefix/{param}`."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.all = tuple(routes)
        self._exact: dict[str, Route] = {}  # paths without a parameter
        self._prefixed: list[tuple[str, Route]] = []
        for route in self.all:
            if route.path.endswith("}"):
                self._prefixed.append((route.url[:route.url.index("{")], route))
            else:
                self._exact[route.url] = self._exact[route.url + "/"] = route

    def match(self, path: str) -> tuple[Route | None, str]:
        route = self._exact.get(path)
        if route is not None:
            return route, ""
        for prefix, route in self._prefixed:
            if path.startswith(prefix) and len(path) > len(prefix) \
                    and "/" not in path[len(prefix):]:
                return route, path[len(prefix):]
        return None, ""


@dataclass(frozen=True, slots=True)
class Settings:
    routes: Routes
    max_body: int
    always_200: bool
    gate: Gate | None = None  # None: no credentials configured, the API is open


class Pipeline:
    def __init__(self, settings: Settings, *, idempotency: Idempotency | None = None,
                 metrics: Metrics | None = None) -> None:
        self.settings = settings  # replaced whole, never changed in place
        self.idempotency = idempotency
        self.metrics = metrics

    @property
    def routes(self) -> Routes:
        return self.settings.routes

    def begin(self, method: str, target: str, headers: dict[str, str],
              remote: str | None) -> Request:
        """A request from its head; its id is the caller's X-Request-Id when that is sane."""
        path, _, query = target.partition("?")
        if "%" in path:
            path = unquote(path, errors="surrogateescape")
        settings = self.settings
        given = headers.get("x-request-id")  # most callers send none: no pattern run
        request = Request(method, path, query, headers, remote,
                          audit.sane_request_id(given) if given else audit.new_request_id(),
                          settings)
        request.route, request.param = settings.routes.match(path)
        return request

    def admit(self, request: Request, content_length: int | None) -> Answer | None:
        """The answer of a request its head refuses, else None: read the body and `run`."""
        settings = request.settings
        if content_length is not None and content_length > settings.max_body:
            return failure_answer(TooLarge(
                f"request body too large: {content_length} bytes, the limit is "
                f"{settings.max_body}"))
        route = request.route
        if settings.gate is not None and (route is None or not route.public) \
                and request.path.startswith(PREFIX):
            refused = _refused_by_gate(settings.gate, request, route)
            if refused is not None:
                return refused
        if route is None:
            return failure_answer(UnknownPath(f"request not defined: {request.path}"))
        if request.method not in route.methods:
            return _not_allowed(request.method, route.methods)
        return None

    async def run(self, request: Request) -> Answer:
        """The handler's answer (through idempotency); errors become their envelopes."""
        route = request.route
        assert route is not None, "admit() answers requests without a route"
        try:
            if self.idempotency is not None and route.mutating \
                    and "idempotency-key" in request.headers:
                return await self.idempotency.run(request, route.handler)
            return await route.handler(request)
        except ApiError as exc:
            log.info("%s %s refused: %s", request.method, request.path, exc.message)
            return failure_answer(exc)
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return unexpected_answer()

    def finish(self, request: Request, reply: Answer, started: float) -> Answer:
        """Audit line, metrics and the 200 switch: every answer passes here once."""
        seconds = _monotonic() - started
        route = request.route
        if route is not None and route.mutating:
            audit.write_line(request.request_id,
                             request.integrator.name if request.integrator else "-",
                             request.remote, route.path, request.facts, reply.status,
                             reply.errcode, seconds)
        elif access_log.isEnabledFor(logging.INFO):
            access_log.info("%s %s %d %.1fms", request.method, request.path, reply.status,
                            seconds * 1000, extra={"fields": {
                                "request_id": request.request_id, "remote": request.remote,
                                "status": reply.status}})
        if self.metrics is not None:
            self.metrics.observe_request(route.url if route is not None else UNMATCHED,
                                         reply.status, seconds)
        if request.settings.always_200 and reply.status != 200:
            return reply.with_status(200)
        return reply


def _refused_by_gate(gate: Gate, request: Request, route: Route | None) -> Answer | None:
    authorization = request.headers.get("authorization")
    try:
        request.integrator = gate.identify(authorization, request.remote)
        gate.admit(request.integrator, request.remote, route.path if route is not None else None)
    except ApiError as exc:
        log.info("%s %s from %s refused: %s", request.method, request.path, request.remote,
                 exc.message)
        return refusal(exc, presented=authorization is not None)
    return None


def _not_allowed(method: str, allowed: Iterable[str]) -> Answer:
    """405 with an Allow header, in the envelope; OPTIONS is answered with the same list."""
    allow = ", ".join(sorted({*allowed, "OPTIONS"}))
    if method == "OPTIONS":
        return success(errmsg=f"allowed: {allow}").with_headers({"Allow": allow})
    return failure_answer(MethodNotAllowed(f"{method} is not allowed here; use {allow}")
                          ).with_headers({"Allow": allow})
