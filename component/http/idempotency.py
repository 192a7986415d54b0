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
from typing import Protocol

import orjson

from component.errors import ApiError, BadField, Conflict
from component.http import audit
from component.http.envelope import Answer, failure_answer, settled
from component.http.route import Handler, Request
from component.store.idempotency import StoredAnswer

log = logging.getLogger(__name__)
HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_CHARS = 255
PRUNE_INTERVAL = 600.0


class IdempotencyStorage(Protocol):
    """Answers by key: in this daemon's store, or shared by a cluster (Redis)."""

    async def claim(self, key: str) -> StoredAnswer | None:
        """The answer kept under `key`; or None, and the key is the caller's until it puts
        an answer or releases it (another daemon waits for that meanwhile)."""

    async def put(self, key: str, answer: StoredAnswer) -> None: ...
    async def release(self, key: str) -> None: ...
    async def prune(self) -> int: ...


class Idempotency:
    """The pipeline's idempotency step and its pruning task; one per server."""

    def __init__(self, store: IdempotencyStorage) -> None:
        self._store = store
        self._running: dict[str, asyncio.Future[None]] = {}

    async def run(self, request: Request, handler: Handler) -> Answer:
        """The stored answer of this key, or the handler's (kept when below 500)."""
        route = request.route
        assert route is not None
        key = _checked(request.headers[HEADER.lower()])
        integrator = request.integrator
        scope = f"{integrator.name if integrator else ''}\x1f{route.path}\x1f{key}"
        digest = hashlib.sha256(request.body).hexdigest()
        while (first := self._running.get(scope)) is not None:
            await asyncio.shield(first)  # our cancellation must not cancel the first's marker
        done = asyncio.get_running_loop().create_future()
        self._running[scope] = done  # no await between the check above and this claim
        try:
            stored = await self._store.claim(scope)
            if stored is not None:
                return _replay(request, stored, digest)
            return await self._run_and_keep(request, handler, scope, digest)
        finally:
            del self._running[scope]
            done.set_result(None)

    async def _run_and_keep(self, request: Request, handler: Handler, scope: str,
                            digest: str) -> Answer:
        try:
            reply = await settled(await handler(request))  # kept as it holds, once it does
        except ApiError as exc:
            await self._keep(scope, failure_answer(exc), digest)
            raise  # the pipeline answers and logs it as usual
        except BaseException:
            await self._keep(scope, None, digest)
            raise
        await self._keep(scope, reply, digest)
        return reply

    async def _keep(self, scope: str, reply: Answer | None, digest: str) -> None:
        """Keep an answer below 500; give the key up for any other outcome."""
        try:
            if reply is not None and reply.status < 500:
                await self._store.put(scope, StoredAnswer(reply.status, reply.body, digest))
            else:
                await self._store.release(scope)
        except Exception:
            # The call has happened; failing to remember it must not turn it into an error.
            log.exception("could not keep the answer for an Idempotency-Key")

    async def prune_forever(self) -> None:
        """Prune expired keys now and then, as long as the daemon runs."""
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


def _replay(request: Request, stored: StoredAnswer, digest: str) -> Answer:
    if stored.request_sha256 != digest:
        raise Conflict(f"{HEADER} already used for a different request body; "
                       "use a new key for a new request")
    audit.note(request, replayed=True)
    errcode = 0
    with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        errcode = int(orjson.loads(stored.body).get("errcode"))  # for the audit
    return Answer(stored.status, errcode, stored.body, {REPLAYED: "true"})
