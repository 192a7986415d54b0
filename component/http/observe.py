"""Per-request observation: Prometheus counters and latency, one log line per request,
and `GET /metrics` in the Prometheus text format."""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from component.http.route import route_of
from component.metrics import Metrics

log = logging.getLogger("component.http.access")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _endpoint(request: web.Request) -> str:
    """The route's path, so that unknown paths do not each make a new time series."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def observe_middleware(metrics: Metrics) -> Middleware:
    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        finally:
            elapsed = time.perf_counter() - started
            endpoint = _endpoint(request)
            metrics.observe_request(endpoint, status, elapsed)
            route = route_of(request)
            # A mutating call's line is its audit line (with the same request id): one line
            # per request, not two.
            if (route is None or not route.mutating) and log.isEnabledFor(logging.INFO):
                log.info("%s %s %d %.1fms", request.method, request.path, status,
                         elapsed * 1000, extra={"fields": {
                             "request_id": request.get("request_id", ""),
                             "remote": request.remote, "status": status}})

    return observe


def add_metrics_route(app: web.Application, metrics: Metrics) -> None:
    async def scrape(request: web.Request) -> web.Response:
        await metrics.refresh()
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/metrics", scrape)
