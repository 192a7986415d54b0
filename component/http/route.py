"""A request as handlers see it, and a route: a path, its methods and its handler.

Handlers take a `Request` (plain values: no server objects reach them, or the services
behind them) and return an `Answer` (component/http/envelope.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl

from component.config import Integrator
from component.http.audit import Facts
from component.http.envelope import Answer

if TYPE_CHECKING:
    from component.http.pipeline import Settings


class Request:
    """Its fields are read some twenty times a request: a plain class, not a msgspec Struct
    (setup.py says why)."""

    def __init__(self, method: str, path: str, query_string: str, headers: dict[str, str],
                 remote: str | None, request_id: str, settings: Settings) -> None:
        self.method = method
        self.path = path                  # percent-decoded
        self.query_string = query_string
        self.headers = headers            # lower-case names; a repeated header's values
                                          # joined by ", "
        self.remote = remote
        self.request_id = request_id
        # What it runs under from its head to its answer (a reload swaps the pipeline's for
        # the next request, not this one's).
        self.settings = settings
        self.route: Route | None = None
        self.param = ""                   # the `{...}` part of a route like "avatar/{jid}"
        self.body = b""
        self.integrator: Integrator | None = None  # None when no credentials are configured
        self.facts = Facts()              # this call's audit line
        self._query: dict[str, str] | None = None

    @property
    def query(self) -> Mapping[str, str]:
        """The query string's fields (the first value of a repeated one)."""
        if self._query is None:
            self._query = {}
            for name, value in parse_qsl(self.query_string, keep_blank_values=True):
                self._query.setdefault(name, value)
        return self._query


Handler = Callable[[Request], Awaitable[Answer]]


@dataclass(frozen=True, slots=True)
class Route:
    path: str  # after /qtalk/, e.g. "send_message", "management/get_muc_opts", "avatar/{jid}"
    methods: frozenset[str]
    handler: Handler
    mutating: bool = True  # audited, idempotency keys apply
    public: bool = False   # outside /qtalk/ and without credentials: the probes, /metrics
    # The path as requested (and as metrics label it): made once, not at every answer (a
    # property's call and concatenation cost 1.1k instructions a request).
    url: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", self.path if self.public else PREFIX + self.path)


PREFIX: Final = "/qtalk/"
POST: Final = frozenset({"POST"})
GET: Final = frozenset({"GET", "HEAD"})
