"""The Protocols services depend on; the link, the store and test fakes implement them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from component.xmpp.stanzas import Stanza

DeliveryStatus = Literal["routed", "sent"]


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What happened to a batch: `routed` once the server acknowledged it by a barrier,
    `sent` when it was written but the acknowledgement did not come in time."""

    status: DeliveryStatus


class StanzaSink(Protocol):
    def check_addresses(self, stanza: Stanza) -> None:
        """Raise an ApiError for a stanza the link would refuse."""

    async def deliver(self, stanzas: Sequence[Stanza]) -> DeliveryReport:
        """Write the stanzas in order and report; raise LinkDown when nothing could go."""


class HostPolicy(Protocol):
    @property
    def default_host(self) -> str:
        """The first configured user domain (the original's "first host")."""

    def is_served(self, domain: str) -> bool:
        """Whether the API may act for users of this domain."""

    @property
    def muc_domain(self) -> str:
        """The MUC service of the served hosts."""
