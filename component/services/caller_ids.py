"""Caller message ids shared by a cluster: a StanzaSink in front of this daemon's delivery.

A retry may reach another daemon than the first attempt did, so an id is claimed in the
shared state before its message is accepted (the first daemon wins; the others answer it as
a duplicate), settled once the message is in the outbox, and given up if it is refused. The
daemon's own memory of ids still answers first, with the exact state (routed or queued); the
shared state only knows that some daemon accepted it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from component.errors import ApiError
from component.services.ports import DeliveryReport, StanzaSink
from component.xmpp.stanza_values import Stanza

log = logging.getLogger(__name__)


class SharedIds(Protocol):
    async def claim(self, keys: list[str]) -> dict[str, str]:
        """Claim each id; returns those another daemon accepted, with their state."""

    async def accepted(self, keys: list[str]) -> None: ...
    async def release(self, keys: list[str]) -> None: ...


class SharedCallerIds:
    """Implements StanzaSink over another one, with ids claimed in the shared state."""

    def __init__(self, sink: StanzaSink, shared: SharedIds) -> None:
        self._sink = sink
        self._shared = shared

    def check_addresses(self, stanza: Stanza) -> None:
        self._sink.check_addresses(stanza)

    async def accepted_before(self, keys: Sequence[str]) -> dict[str, str]:
        seen = await self._sink.accepted_before(keys)
        unknown = list(dict.fromkeys(key for key in keys if key not in seen))
        if unknown:
            seen |= await self._shared.claim(unknown)
        return seen

    async def deliver(self, stanzas: Sequence[Stanza], *, wait: float | None = None,
                      remember: Sequence[str] = (), deferred: bool = False) -> DeliveryReport:
        # Never deferred: an id is marked accepted in the shared state, or given up, only
        # once the outcome of its transaction is known.
        try:
            report = await self._sink.deliver(stanzas, wait=wait, remember=remember)
        except ApiError:
            await self._give_up(list(remember))
            raise
        try:
            await self._shared.accepted(list(remember))
        except ApiError as exc:
            # Accepted all the same: the claims lapse, and a retry on another daemon after
            # that sends the message again, with the same id (at least once, never lost).
            log.warning("could not mark %d message ids accepted: %s", len(remember), exc)
        return report

    async def _give_up(self, keys: list[str]) -> None:
        try:
            await self._shared.release(keys)
        except ApiError as exc:
            log.warning("could not release %d message ids (they lapse): %s", len(keys), exc)
