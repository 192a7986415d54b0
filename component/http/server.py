"""The aiohttp application: route table, error middleware, size limits, the 200 switch."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from component.config import Config
from component.errors import ApiError, InternalError, MethodNotAllowed, TooLarge, UnknownPath
from component.http.envelope import failure
from component.http.route import Route

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
        except web.HTTPException as exc:
            response = failure(_http_error(exc))
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            response = failure(InternalError("internal error; see the daemon's log"))
        if always_200 and isinstance(response, web.Response) and response.status != 200:
            response.set_status(200)
        return response

    return errors


def _http_error(exc: web.HTTPException) -> ApiError:
    error = ApiError(exc.reason)
    error.http_status = exc.status  # type: ignore[misc]
    return error


def _guard(route: Route) -> Handler:
    """Answer a wrong method with 405 and an Allow header, in the envelope."""
    allow = ", ".join(sorted(route.methods))

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method not in route.methods:
            response = failure(MethodNotAllowed(f"{request.method} is not allowed here; "
                                                f"use {allow}"))
            response.headers["Allow"] = allow
            return response
        return await route.handler(request)

    return handle


def make_app(config: Config, routes: Iterable[Route]) -> web.Application:
    app = web.Application(client_max_size=config.limits.max_request_bytes,
                          middlewares=[_error_middleware(config.http.always_200)])
    for route in routes:
        handler = _guard(route)
        for path in (PREFIX + route.path, PREFIX + route.path + "/"):
            app.router.add_route("*", path, handler)
    return app
