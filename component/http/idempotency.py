"""`Idempotency-Key` on mutating calls (draft-ietf-httpapi-idempotency-key-header).

A retried request with the same key, from the same integrator to the same endpoint, gets the
first answer (status and body) back and runs nothing again. A duplicate that arrives while the
first is still running waits for it. Answers below 500 are kept, refusals included (a retry of
a refused request would be refused the same way); a 5xx is not kept, so a retry after "link
down" or an internal error runs again. A key reused with another body is refused with 409:
silently replaying an answer to a different request would hide a bug in the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from component.errors import ApiError, BadField, Conflict
from component.http import audit
from component.http.auth import integrator_of
from component.http.envelope import ERRCODE_KEY, JSON_TYPE, failure
from component.http.route import route_of
from component.store.idempotency import IdempotencyStore, StoredAnswer

log = logging.getLogger(__name__)
HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_CHARS = 255
PRUNE_INTERVAL = 600.0


class Idempotency:
    """The middleware and its pruning task; one per application."""

    def __init__(self, store: IdempotencyStore) -> None:
        self._store = store
        self._running: dict[str, asyncio.Future[None]] = {}

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        key = request.headers.get(HEADER)
        if key is None or route is None or not route.mutating \
                or request.method not in route.methods:
            return await handler(request)
        integrator = integrator_of(request)
        scope = f"{integrator.name if integrator else ''}\x1f{route.path}\x1f{_checked(key)}"
        digest = hashlib.sha256(await request.read()).hexdigest()
        while (first := self._running.get(scope)) is not None:
            await asyncio.shield(first)  # our cancellation must not cancel the first's marker
        done = asyncio.get_running_loop().create_future()
        self._running[scope] = done  # no await between the check above and this claim
        try:
            stored = await self._store.get(scope)
            if stored is not None:
                return _replay(request, stored, digest)
            return await self._run_and_keep(request, handler, scope, digest)
        finally:
            del self._running[scope]
            done.set_result(None)

    async def _run_and_keep(self, request: web.Request, handler: Handler, scope: str,
                            digest: str) -> web.StreamResponse:
        try:
            response = await handler(request)
        except ApiError as exc:
            if exc.http_status < 500:
                await self._keep(scope, failure(exc), digest)
            raise  # the error middleware answers and logs it as usual
        if isinstance(response, web.Response) and response.status < 500:
            await self._keep(scope, response, digest)
        return response

    async def _keep(self, scope: str, response: web.Response, digest: str) -> None:
        body = response.body
        if not isinstance(body, bytes):
            return  # every envelope is bytes; anything else is not ours to replay
        try:
            await self._store.put(scope, StoredAnswer(response.status, body, digest))
        except Exception:
            # The call has happened; failing to remember it must not turn it into an error.
            log.exception("could not keep the answer for an Idempotency-Key")

    async def pruning(self, app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup context: prune expired keys now and then while the app runs."""
        task = asyncio.create_task(self._prune_forever())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _prune_forever(self) -> None:
        while True:
            try:
                removed = await self._store.prune()
                if removed:
                    log.debug("pruned %d expired idempotency keys", removed)
            except Exception:
                log.exception("pruning idempotency keys failed; trying again later")
            await asyncio.sleep(PRUNE_INTERVAL)


def _checked(key: str) -> str:
    """A key is visible ASCII, at most 255 characters; the draft's quoted form is taken too."""
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or len(key) > MAX_KEY_CHARS or not all("!" <= c <= "~" for c in key):
        raise BadField(HEADER, f"expected 1 to {MAX_KEY_CHARS} visible ASCII characters")
    return key


def _replay(request: web.Request, stored: StoredAnswer, digest: str) -> web.Response:
    if stored.request_sha256 != digest:
        raise Conflict(f"{HEADER} already used for a different request body; "
                       "use a new key for a new request")
    audit.note(request, replayed=True)
    response = web.Response(body=stored.body, status=stored.status, content_type=JSON_TYPE,
                            charset="utf-8", headers={REPLAYED: "true"})
    with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError):
        response[ERRCODE_KEY] = int(orjson.loads(stored.body).get("errcode"))  # for the audit
    return response
