"""`GET /metrics`: the daemon's Prometheus metrics, in the text format."""

from __future__ import annotations

from component.http.envelope import Answer
from component.http.route import GET, Request, Route
from component.metrics import Metrics

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metrics_route(metrics: Metrics) -> Route:
    async def scrape(request: Request) -> Answer:
        await metrics.refresh()
        return Answer(200, 0, metrics.render(), content_type=CONTENT_TYPE)

    return Route("/metrics", GET, scrape, mutating=False, public=True)
