"""The ports of the room services: the MUC server and the groupchat gate.

Server quirks (how a room is created, who shows up in its owner list, who may post without
joining) live behind `MucServer`: `EjabberdMuc` and `ProsodyMuc`, chosen by `servers.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from component.jid import Jid
from component.rooms.model import AffiliationChange, Member, OptionChange, RoomSnapshot
from component.xmpp.muc import ProfileCard
from component.xmpp.stanza_values import Stanza


class MucServer(Protocol):
    """Room administration as the component (a MUC service admin), without joining."""

    async def exists(self, room: Jid) -> bool: ...

    async def create(self, room: Jid, change: OptionChange) -> None:
        """Create a persistent, members-only room (allowing MucSub where the server has it)."""

    async def configure(self, room: Jid, change: OptionChange) -> None: ...

    async def read(self, room: Jid) -> RoomSnapshot:
        """Configuration, affiliations (the component itself left out) and subscriptions;
        NotFound when the room does not exist."""

    async def set_affiliations(self, room: Jid, changes: Sequence[AffiliationChange]) -> None:
        """All changes or none (one muc#admin set)."""

    async def subscribe(self, room: Jid, user: Jid, nick: str) -> str:
        """Subscribe `user` to every message of the room; returns the nick the room took,
        or "" where the server has no subscriptions (membership is the affiliation)."""

    async def unsubscribe(self, room: Jid, user: Jid) -> None: ...

    async def destroy(self, room: Jid, reason: str) -> None: ...

    async def list_rooms(self) -> list[Jid]:
        """Every room to resync: the service's listing, and the store's where the server
        hides some rooms from it."""

    async def group_sender(self, room: Jid, member: Member, nick: str) -> tuple[Jid, str]:
        """The JID a groupchat of `member` must come from to be accepted, after whatever
        the server needs first; and the member's room nick (for the store). NotSupported
        where the server accepts groupchat from occupants only."""

    def notice_stanzas(self, room: Jid, card: ProfileCard, *, stanza_id: str) -> list[Stanza]:
        """The stanzas that post the group card (a bodyless groupchat) to the room as the
        component, in order: the notice, and whatever the server needs around it."""


class GroupGate(Protocol):
    """What message injection asks the rooms before sending a groupchat."""

    @property
    def muc_domain(self) -> str: ...

    async def group_sender(self, room: Jid, user: Jid) -> Jid:
        """The JID to send as, once `user` is known to be a member of `room`; NotFound for
        an unknown room, Forbidden for a non-member."""
