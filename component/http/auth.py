"""Integrator credentials: bearer tokens (RFC 6750), scopes, IP allowlists and rates.

Only the SHA-256 of each token is configured. A presented token is hashed and compared with
every integrator's hash in constant time, all of them every time, so neither the timing nor
the position of a match tells a caller anything. Once any integrator is configured, every
`/qtalk/` call needs a token; the probes (/healthz, /readyz, /metrics, /openapi.json) never
do, so monitoring needs no secret (openfire-restAPI #96).

Refusals, in order: no or unknown token 401 (with `WWW-Authenticate: Bearer`), or 429 (with
`Retry-After`) once a client address has failed too often; a source address outside the
integrator's list 403, over its rate 429 (with `Retry-After`), an endpoint it may not call 403.

Failed credentials are throttled per client address (an IPv6 peer per /64, what one host is
usually given): a burst, then one a second. A right token is never throttled, so whoever
shares an address with an integrator (a NAT, the loopback) cannot lock it out, and it costs
a right token nothing: only failures touch the table, which keeps the addresses that failed
most recently, a bounded number of them.

Which user domain a call acts for is known only once a handler has read the body, so
handlers call `require_host`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Final

from component.config import Integrator
from component.errors import ApiError, Forbidden, RateLimited, Unauthorized
from component.http.envelope import Answer, failure_answer
from component.http.route import Request

log: Final = logging.getLogger(__name__)
Clock = Callable[[], float]
FAILURE_BURST: Final = 20  # failed credentials from one address before it is throttled
FAILURE_RATE: Final = 1.0  # failed credentials per second an address may go on with
MAX_FAILING_ADDRESSES: Final = 4096


class TokenBucket:
    """`rate` requests per second on average, bursts of up to one second's worth (or of
    `burst`)."""

    def __init__(self, rate: float, clock: Clock = time.monotonic,
                 burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(rate, 1.0)
        self.tokens = self.capacity
        self._clock = clock
        self._last = clock()

    def take(self) -> float:
        """Take one token: 0.0 when granted, else the seconds until one is there."""
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
        self._last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class FailureThrottle:
    """Failed credentials per client address: FAILURE_BURST, then FAILURE_RATE a second."""

    def __init__(self, clock: Clock, max_addresses: int = MAX_FAILING_ADDRESSES) -> None:
        self._clock = clock
        self._max = max_addresses
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()  # least recent first

    def failed(self, remote: str | None) -> float:
        """Count one failure: 0.0 while under the limit, else the seconds to wait."""
        key = _client_of(remote)
        bucket = self._buckets.pop(key, None) or TokenBucket(FAILURE_RATE, self._clock,
                                                             burst=FAILURE_BURST)
        self._buckets[key] = bucket
        if len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return bucket.take()


class Gate:
    """Decides who a request comes from and whether that integrator may make it."""

    def __init__(self, integrators: Sequence[Integrator], clock: Clock = time.monotonic) -> None:
        self.integrators = tuple(integrators)
        self._buckets = {i.name: TokenBucket(i.rate, clock) for i in integrators
                         if i.rate is not None}
        self._failures = FailureThrottle(clock)
        self._clock = clock

    def reconfigured(self, integrators: Sequence[Integrator]) -> Gate:
        """The gate for a reloaded list: whoever keeps their rate keeps their bucket, and
        the failed-token throttle goes on (a reload grants no fresh burst, forgives no
        guessing). A new or changed rate starts full."""
        gate = Gate(integrators, self._clock)
        gate._failures = self._failures
        for name, bucket in gate._buckets.items():
            kept = self._buckets.get(name)
            if kept is not None and kept.rate == bucket.rate:
                gate._buckets[name] = kept
        return gate

    def identify(self, authorization: str | None, remote: str | None) -> Integrator:
        """The integrator whose token this is; Unauthorized, or RateLimited once `remote`
        (the client's address) has failed too often."""
        try:
            return self._integrator_of(authorization)
        except Unauthorized:
            wait = self._failures.failed(remote)
            if not wait:
                raise
        raise RateLimited(f"too many failed credentials from {remote}",
                          retry_after=max(1, math.ceil(wait)))

    def _integrator_of(self, authorization: str | None) -> Integrator:
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("missing credentials: send Authorization: Bearer <token>")
        digest = hashlib.sha256(token.strip().encode("utf-8", "surrogateescape")).hexdigest()
        found: Integrator | None = None
        for integrator in self.integrators:  # no early exit: every hash is compared
            if hmac.compare_digest(digest, integrator.token_sha256):
                found = integrator
        if found is None:
            raise Unauthorized("invalid bearer token")
        return found

    def admit(self, integrator: Integrator, remote: str | None, endpoint: str | None) -> None:
        """Raise Forbidden or RateLimited; `endpoint` is None for a path that does not exist."""
        if integrator.allow_ips and not _address_in(remote, integrator.allow_ips):
            raise Forbidden(f"integrator {integrator.name!r} may not call from {remote}")
        bucket = self._buckets.get(integrator.name)
        wait = bucket.take() if bucket is not None else 0.0
        if wait:
            raise RateLimited(f"integrator {integrator.name!r} is over its rate of "
                              f"{integrator.rate:g} requests per second",
                              retry_after=max(1, math.ceil(wait)))
        if endpoint is not None and not allowed(integrator.endpoints, endpoint):
            raise Forbidden(f"integrator {integrator.name!r} may not call {endpoint}")


def allowed(scope: frozenset[str], value: str) -> bool:
    return "*" in scope or value in scope


def _client_of(remote: str | None) -> str:
    """The throttle's key: an IPv4 address, an IPv6 /64, or the peer as it was given."""
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return remote or "-"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _address_in(remote: str | None,
                networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return False  # a Unix socket or an unparsable peer is outside every list
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d
    return any(address in network for network in networks)


def refusal(error: ApiError, *, presented: bool) -> Answer:
    reply = failure_answer(error)
    if isinstance(error, Unauthorized):
        # RFC 6750 §3: no error code when no credentials came at all.
        invalid = ', error="invalid_token"' if presented else ""
        headers = {**(reply.headers or {}),
                   "WWW-Authenticate": f'Bearer realm="qtalk"{invalid}'}
        reply = Answer(reply.status, reply.errcode, reply.body, headers)
    return reply


def require_host(request: Request, domain: str) -> None:
    """Refuse (403) a call acting for a user of `domain` unless the integrator may."""
    require_host_for(request.integrator, domain)


def require_host_for(integrator: Integrator | None, domain: str) -> None:
    if integrator is not None and not allowed(integrator.hosts, domain.lower()):
        raise Forbidden(f"integrator {integrator.name!r} may not act for users of {domain}")
