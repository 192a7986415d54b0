"""Port 10050 put together: the pipeline over a route table, and the server that runs it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from component.config import Config
from component.http.auth import Gate
from component.http.idempotency import Idempotency, IdempotencyStorage
from component.http.listener import HttpServer, ServerLimits
from component.http.pipeline import Pipeline, Routes, Settings
from component.http.route import Route
from component.metrics import Metrics
from component.store.db import Database
from component.store.idempotency import IdempotencyStore


def make_pipeline(config: Config, routes: Iterable[Route], *, db: Database | None = None,
                  metrics: Metrics | None = None, gate: Gate | None = None,
                  answers: IdempotencyStorage | None = None) -> Pipeline:
    """The pipeline; Idempotency-Key answers are kept in `answers` (shared by a cluster),
    else in `db`; without either (some unit tests) the header is not honoured."""
    if answers is None and db is not None:
        answers = IdempotencyStore(db)
    if gate is None and config.integrators:
        gate = Gate(config.integrators)
    return Pipeline(settings_of(config, routes, gate),
                    idempotency=Idempotency(answers) if answers is not None else None,
                    metrics=metrics)


def reconfigure(pipeline: Pipeline, config: Config, routes: Iterable[Route]) -> None:
    """A reload: what the next request runs under (those in flight keep their own)."""
    running = pipeline.settings.gate
    gate = None if not config.integrators else Gate(config.integrators) if running is None \
        else running.reconfigured(config.integrators)
    pipeline.settings = settings_of(config, routes, gate)


def settings_of(config: Config, routes: Iterable[Route], gate: Gate | None) -> Settings:
    return Settings(Routes(routes), max_body=config.limits.max_request_bytes,
                    always_200=config.http.always_200, gate=gate)


def make_server(config: Config, pipeline: Pipeline, *,
                handed_over: Callable[[], None] | None = None) -> HttpServer:
    http = config.http
    return HttpServer(pipeline, ServerLimits(request_timeout=http.request_timeout,
                                             idle_timeout=http.idle_timeout,
                                             max_connections=http.max_connections),
                      handed_over=handed_over)
