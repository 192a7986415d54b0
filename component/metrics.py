"""Prometheus metrics: counters and histograms updated on the way, gauges read at scrape time.

State that already lives in the link, the outbox and the store (link state, reconnects,
stanzas written, outbox depth, window, store size) is read by a collector when /metrics is
scraped, so the hot path pays nothing for it.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

LATENCY_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                          2.5, 10)
_BOUNDS: Final = (*(str(float(bound)) for bound in LATENCY_BUCKETS), "+Inf")  # the `le` labels


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the daemon reports about itself when scraped."""

    link_up: bool
    reconnects: int
    stanzas_sent: int
    outbox_depth: int
    window: int
    replays: int
    store_bytes: int
    rooms: int = 0
    uptime_seconds: float = 0.0
    account_probes: int = 0
    recipients_refused: int = 0
    messages_bounced: int = 0


class _StateCollector(Collector):
    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self._snapshot()
        yield GaugeMetricFamily("qtalk_link_up", "1 while the component link is up",
                                value=int(s.link_up))
        yield CounterMetricFamily("qtalk_link_reconnects", "Reconnect attempts of the link",
                                  value=s.reconnects)
        yield CounterMetricFamily("qtalk_stanzas_sent", "Stanzas written to the link",
                                  value=s.stanzas_sent)
        yield CounterMetricFamily("qtalk_outbox_replays",
                                  "Stanzas sent again after a link drop", value=s.replays)
        yield GaugeMetricFamily("qtalk_outbox_depth", "Accepted stanzas not yet acknowledged",
                                value=s.outbox_depth)
        yield GaugeMetricFamily("qtalk_delivery_window",
                                "Stanzas that may be written but unacknowledged", value=s.window)
        yield GaugeMetricFamily("qtalk_store_bytes", "SQLite file and WAL size",
                                value=s.store_bytes)
        yield CounterMetricFamily("qtalk_account_probes",
                                  "Probes asking the server whether an account exists",
                                  value=s.account_probes)
        yield CounterMetricFamily("qtalk_recipients_refused",
                                  "Recipients refused before sending: no such account",
                                  value=s.recipients_refused)
        yield CounterMetricFamily("qtalk_messages_bounced",
                                  "Messages accepted, then bounced: the account was gone",
                                  value=s.messages_bounced)
        yield GaugeMetricFamily("qtalk_rooms", "Rooms in the store", value=s.rooms)
        yield GaugeMetricFamily("qtalk_uptime_seconds", "Seconds since start",
                                value=s.uptime_seconds)


class _Endpoint:
    """One endpoint's requests: by status, their latencies counted by bucket; and the sum
    of their latencies (a status' count is its buckets' sum, made at scrape time: one
    dictionary operation less for each request)."""

    __slots__ = ("by_status", "sum")

    def __init__(self) -> None:
        self.by_status: dict[int, list[int]] = {}  # per bound, then +Inf
        self.sum = 0.0


class _RequestCounts(Collector):
    """Requests by endpoint and status, and their latency, as plain counts: every request
    updates them, and prometheus_client's Counter and Histogram (a lock per update, a
    Python loop over the buckets) cost several times these few dictionary operations."""

    def __init__(self) -> None:
        self.endpoints: dict[str, _Endpoint] = {}

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        counts = self.endpoints.get(endpoint)
        if counts is None:
            counts = self.endpoints[endpoint] = _Endpoint()
        buckets = counts.by_status.get(status)
        if buckets is None:
            buckets = counts.by_status[status] = [0] * (len(LATENCY_BUCKETS) + 1)
        buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1  # le: seconds <= bound
        counts.sum += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("qtalk_http_requests",
                                       "HTTP requests by endpoint and status",
                                       labels=["endpoint", "status"])
        endpoints = sorted(self.endpoints.items())
        for endpoint, counts in endpoints:
            for status, buckets in sorted(counts.by_status.items()):
                requests.add_metric([endpoint, str(status)], sum(buckets))
        yield requests
        latency = HistogramMetricFamily("qtalk_http_request_duration_seconds",
                                        "HTTP request handling time", labels=["endpoint"])
        for endpoint, counts in endpoints:
            by_bucket = [sum(column) for column in zip(*counts.by_status.values(), strict=True)]
            cumulative = list(itertools.accumulate(by_bucket))
            latency.add_metric([endpoint], list(zip(_BOUNDS, cumulative, strict=True)),
                               counts.sum)
        yield latency


class Metrics:
    """One registry per daemon (not the global one: tests run several daemons at once)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._http = _RequestCounts()
        self.registry.register(self._http)
        self.iq_rtt = Histogram("qtalk_xmpp_iq_duration_seconds",
                                "Round trip of iq requests to the XMPP server",
                                buckets=LATENCY_BUCKETS, registry=self.registry)
        self._refreshers: list[Callable[[], Awaitable[None]]] = []
        # One answered HTTP request: its route's path ("unmatched" for the rest), its status.
        self.observe_request = self._http.observe

    def watch(self, snapshot: Callable[[], Snapshot]) -> None:
        self.registry.register(_StateCollector(snapshot))

    def before_scrape(self, refresh: Callable[[], Awaitable[None]]) -> None:
        """Run `refresh` before each scrape (values that need the store, say)."""
        self._refreshers.append(refresh)

    async def refresh(self) -> None:
        for refresh in self._refreshers:
            await refresh()

    def render(self) -> bytes:
        return generate_latest(self.registry)
