"""The aiohttp application: route table, error middleware, size limits, the 200 switch."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from component.config import Config
from component.errors import ApiError, MethodNotAllowed, TooLarge, UnknownPath
from component.http import audit
from component.http.auth import Gate, auth_middleware
from component.http.envelope import failure, unexpected_answer
from component.http.idempotency import Idempotency
from component.http.observe import add_metrics_route, observe_middleware
from component.http.route import ROUTES, Route
from component.metrics import Metrics
from component.store.db import Database
from component.store.idempotency import IdempotencyStore

log = logging.getLogger(__name__)
PREFIX = "/qtalk/"


def _error_middleware(always_200: bool) -> Middleware:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        response: web.StreamResponse
        try:
            response = await handler(request)
        except ApiError as exc:
            log.info("%s %s refused: %s", request.method, request.path, exc.message)
            response = failure(exc)
        except web.HTTPRequestEntityTooLarge as exc:
            response = failure(TooLarge(f"request body too large: {exc.text}"))
        except web.HTTPNotFound:
            response = failure(UnknownPath(f"request not defined: {request.path}"))
        except web.HTTPMethodNotAllowed as exc:  # the router's, on /healthz and the like
            response = _not_allowed(request.method, exc.allowed_methods)
        except web.HTTPException as exc:
            response = failure(_http_error(exc))
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            response = unexpected_answer().response()
        if always_200 and isinstance(response, web.Response) and response.status != 200:
            response.set_status(200)
        return response

    return errors


def _http_error(exc: web.HTTPException) -> ApiError:
    error = ApiError(exc.reason)
    error.http_status = exc.status  # type: ignore[misc]
    return error


def _not_allowed(method: str, allowed: Iterable[str]) -> web.Response:
    """405 with an Allow header, in the envelope."""
    allow = ", ".join(sorted(allowed))
    response = failure(MethodNotAllowed(f"{method} is not allowed here; use {allow}"))
    response.headers["Allow"] = allow
    return response


def _guard(route: Route) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method not in route.methods:
            return _not_allowed(request.method, route.methods)
        return await route.handler(request)

    return handle


def make_app(config: Config, routes: Iterable[Route], *, db: Database | None = None,
             metrics: Metrics | None = None, gate: Gate | None = None) -> web.Application:
    """The app; without `db` (some unit tests) Idempotency-Key headers are not honoured."""
    # Outermost first. The request id wraps everything so every answer names its request;
    # the error middleware turns exceptions into envelopes and applies the 200 switch last;
    # the audit sees each mutating call's real outcome, auth refusals included; idempotency
    # needs the integrator (its keys are per integrator) and must not replay to strangers.
    middlewares = [audit.request_ids, _error_middleware(config.http.always_200),
                   audit.audit_trail]
    if metrics is not None:
        middlewares.insert(1, observe_middleware(metrics))
    if config.integrators:
        middlewares.append(auth_middleware(gate or Gate(config.integrators)))
    idempotency = Idempotency(IdempotencyStore(db)) if db is not None else None
    if idempotency is not None:
        middlewares.append(idempotency.middleware)
    app = web.Application(client_max_size=config.limits.max_request_bytes,
                          middlewares=middlewares)
    if idempotency is not None:
        app.cleanup_ctx.append(idempotency.pruning)
    if metrics is not None:
        add_metrics_route(app, metrics)
    app[ROUTES] = {}
    for route in routes:
        handler = _guard(route)
        for path in (PREFIX + route.path, PREFIX + route.path + "/"):
            app[ROUTES][app.router.add_route("*", path, handler)] = route
    return app
