"""Prosody's mod_muc as the component sees it: every room quirk of Prosody 0.12 in one place.

Measured on Debian's Prosody 0.12.3 (reference xmpp-servers.md §3c, §3d, §3f, §4, and ours):
* an iq to a missing room is `item-not-found`: a room is created by a join (presence), stays
  locked until its configuration form is submitted, and then the component leaves. The
  component joins as its bare domain, a service admin, so the iqs come from the occupant;
* a destroyed room leaves a tombstone answering `gone` (a service admin's join recreates it);
* there is no MucSub: members are affiliated only (the XEP-0249 invitation makes clients
  join), nobody receives a room's messages without being an occupant, and groupchat is
  accepted from occupants only, not from a member's bare JID nor from a service admin: so a
  member's groupchat is refused (NotSupported), and the component's notices are posted by
  joining, posting and leaving in one ordered write;
* a muc#admin set applies its first item only: one iq per change;
* rooms have no occupant limit (no `muc#roomconfig_maxusers`): a max_users change is refused;
* hidden rooms are never listed, even to admins: the store is the registry of rooms, and the
  listing adds the public ones (rooms made by clients are public only if they say so).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from component.errors import NotFound, NotSupported, XmppError
from component.jid import Jid
from component.rooms.model import AffiliationChange, Member, OptionChange, RoomSnapshot
from component.xmpp import muc
from component.xmpp.ports import MucPort
from component.xmpp.stanza_values import Stanza
from component.xmpp.xep0045_muc import FIELDS, Xep0045Muc, form_values

NO_MUCSUB = ("groupchat as a member needs ejabberd's MucSub; Prosody accepts groupchat only "
             "from occupants of the room (members join it with their own clients)")


class RoomRegistry(Protocol):
    """The rooms the store knows (the registry where the server hides hidden rooms)."""

    async def synced_at(self) -> dict[Jid, float]: ...


class ProsodyMuc(Xep0045Muc):
    def __init__(self, port: MucPort, muc_domain: str, registry: RoomRegistry) -> None:
        super().__init__(port, muc_domain)
        self._sender = port
        self._registry = registry
        self._nick = port.jid.domain  # the component's occupant nick, while it is in a room

    async def create(self, room: Jid, change: OptionChange) -> None:
        self._refuse_unsupported(change)
        values = form_values(change, persistent=True, members_only=True)
        values.setdefault(FIELDS["public"], "0")
        self._sender.send(muc.join(self._port.jid, room, self._nick,
                                   stanza_id=self._port.new_id()))
        try:
            await self._iq(room, "set", muc.config_submit(values), "create")
        except NotFound:
            raise XmppError(f"{room}: create", condition="item-not-found",
                            text="the MUC service did not create the room on join") from None
        finally:
            self._sender.send(muc.leave(self._port.jid, room, self._nick,
                                        stanza_id=self._port.new_id()))

    async def configure(self, room: Jid, change: OptionChange) -> None:
        self._refuse_unsupported(change)
        await super().configure(room, change)

    @staticmethod
    def _refuse_unsupported(change: OptionChange) -> None:
        if change.max_users is not None:
            raise NotSupported("max_users: rooms on Prosody have no occupant limit")

    async def read(self, room: Jid) -> RoomSnapshot:
        options, affiliations, _ = await self._read(room)
        return RoomSnapshot(options, affiliations)

    async def set_affiliations(self, room: Jid, changes: Sequence[AffiliationChange]) -> None:
        """One iq per change, in order (an heir becomes owner before the owner leaves)."""
        await self._set_affiliations(room, changes, 1)

    async def subscribe(self, room: Jid, user: Jid, nick: str) -> str:
        return ""  # no MucSub: the affiliation is the membership

    async def unsubscribe(self, room: Jid, user: Jid) -> None:
        return None

    async def list_rooms(self) -> list[Jid]:
        known = list(await self._registry.synced_at())
        return list(dict.fromkeys([*known, *await self._listed_rooms()]))

    async def group_sender(self, room: Jid, member: Member, nick: str) -> tuple[Jid, str]:
        raise NotSupported(NO_MUCSUB)

    def notice_stanzas(self, room: Jid, card: muc.ProfileCard, *,
                       stanza_id: str) -> list[Stanza]:
        """Join, post, leave: the server handles one stream in order, so the notice is sent
        as an occupant; occupants get it, members who have not joined do not (no MucSub)."""
        me = self._port.jid
        return [muc.join(me, room, self._nick, stanza_id=f"{stanza_id}-join"),
                muc.profile_notice(me, room, card, stanza_id=stanza_id),
                muc.leave(me, room, self._nick, stanza_id=f"{stanza_id}-leave")]
