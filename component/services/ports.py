"""The Protocols services depend on; the link, the store and test fakes implement them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from typing import Literal, Protocol

import msgspec
from lxml import etree

from component.xmpp.stanza_values import OutboxRow, Stanza

DeliveryStatus = Literal["accepted", "routed", "queued"]


class PendingCommit(Protocol):
    """The outbox transaction a delivery's rows joined, not ended yet."""

    def then(self, callback: Callable[[bool], None]) -> None:
        """Call back once it ends: True committed, False failed (at once if it has). One
        added by a callback is called after every callback added before it."""


class DeliveryReport(msgspec.Struct, frozen=True, gc=False):
    """What happened to a batch: `accepted` once it is durable and written to the server
    (its acknowledgement not awaited), `routed` once the server acknowledged it by a barrier
    (when asked to wait for that), `queued` when it is kept durably and will be sent (link
    down, or no acknowledgement in the time waited).

    `pending`: delivered with `deferred`, the batch is durable only once this transaction is
    committed; the status holds from then, and its caller answers no sooner."""

    status: DeliveryStatus
    pending: PendingCommit | None = None


class StanzaSink(Protocol):
    def check_addresses(self, stanza: Stanza) -> None:
        """Raise an ApiError for a stanza the link would refuse."""

    async def accepted_before(self, keys: Sequence[str]) -> dict[str, str]:
        """Of these caller-supplied message keys, those already accepted, with their state;
        the others are the caller's to deliver (a cluster's daemons claim them)."""

    async def deliver(self, stanzas: Sequence[Stanza], *, wait: float | None = None,
                      remember: Sequence[str] = (), deferred: bool = False) -> DeliveryReport:
        """Keep the stanzas, send them in order, report; `remember` caller-supplied keys.
        `deferred`: the sink may report before the stanzas are durable, with the pending
        transaction in the report (a caller that answers once it ends need not wait)."""


class LinkPort(Protocol):
    """What delivery needs of the component link."""

    up: asyncio.Event

    def check_addresses(self, stanza: Stanza) -> None: ...
    def send(self, stanza: Stanza) -> None: ...
    def flush(self) -> None: ...  # write what was sent so far now, not at the loop turn's end
    def barrier(self) -> asyncio.Future[etree._Element]: ...
    async def writable(self) -> None: ...
    def is_writable(self) -> bool: ...
    def is_up(self) -> bool: ...  # up.is_set(), without a call into asyncio
    def on_up(self, listener: Callable[[], None]) -> None: ...
    def on_down(self, listener: Callable[[], None]) -> None: ...


class OutboxPort(Protocol):
    """What delivery needs of the durable outbox (SqliteOutbox; a test's recording one)."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def last_seq(self) -> int: ...
    async def load(self, only: Collection[int] | None = None) -> list[OutboxRow]: ...
    async def commit(self, new: Sequence[OutboxRow], acked_upto: int | None,
                     accepted_keys: Sequence[str], *,
                     forget_before: float | None = None) -> None: ...
    def commits_on_loop(self) -> bool: ...  # commit_on_loop may run now
    def commit_on_loop(self, new: Sequence[OutboxRow], acked_upto: int | None,
                       accepted_keys: Sequence[str], *,
                       forget_before: float | None = None) -> None: ...
    async def accepted_ids(self) -> list[tuple[str, float]]: ...
    async def prune_accepted(self, older_than: float) -> None: ...


class HostPolicy(Protocol):
    @property
    def default_host(self) -> str:
        """The first configured user domain (the original's "first host")."""

    def is_served(self, domain: str) -> bool:
        """Whether the API may act for users of this domain."""

    @property
    def muc_domain(self) -> str:
        """The MUC service of the served hosts."""
