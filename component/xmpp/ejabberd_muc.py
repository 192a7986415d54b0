"""ejabberd's mod_muc as the component sees it: every room quirk in one place.

Measured on ejabberd 23.01 (reference xmpp-servers.md §3c, §3d, §3f, §10):
* any muc#owner iq to a missing room creates it: a config submit (how rooms are made here),
  but also a config *get* (a transient room) and a *destroy*, which then answers "result"
  for a room that never existed; so callers check `exists` first, and `read` asks for the
  owner list (muc#admin: item-not-found) before the configuration;
* the component is owner of every room through `access_admin`, and the rooms it creates list
  it as owner; that affiliation cannot be changed, so it is left out of every list here;
* groupchat is accepted from a MucSub subscriber's bare JID without joining, and from a
  service admin (a bodyless notice, for instance); affiliation `none` does not unsubscribe;
* subscribing needs the affiliation first in a members-only room, and a nick already taken
  in the room is a `conflict`;
* disco#items pages with RSM (an unpaged query lists only non-empty rooms past 100 rooms).
"""

from __future__ import annotations

from collections.abc import Sequence

from component.errors import Conflict
from component.jid import Jid
from component.rooms.model import AffiliationChange, Member, OptionChange, RoomSnapshot
from component.xmpp import muc
from component.xmpp.stanza_values import Stanza
from component.xmpp.xep0045_muc import FIELDS, Xep0045Muc, form_values

ADMIN_BATCH = 100  # items per muc#admin set, to keep stanzas small


class EjabberdMuc(Xep0045Muc):
    async def create(self, room: Jid, change: OptionChange) -> None:
        values = form_values(change, persistent=True, members_only=True,
                             allow_subscription=True)
        values.setdefault(FIELDS["public"], "0")
        await self._iq(room, "set", muc.config_submit(values), "create")

    async def read(self, room: Jid) -> RoomSnapshot:
        options, affiliations, subscribers = await self._read(room, muc.subscriptions_request())
        assert subscribers is not None
        return RoomSnapshot(options, affiliations, muc.parse_subscriptions(subscribers))

    async def set_affiliations(self, room: Jid, changes: Sequence[AffiliationChange]) -> None:
        await self._set_affiliations(room, changes, ADMIN_BATCH)

    async def subscribe(self, room: Jid, user: Jid, nick: str) -> str:
        """A nick taken by another subscriber gets the user name added, then the JID."""
        candidates = dict.fromkeys([nick, f"{nick} ({user.local})", str(user)])
        for candidate in candidates:
            try:
                await self._iq(room, "set", muc.subscribe(user, candidate), "subscribe")
            except Conflict:
                continue
            return candidate
        raise Conflict(f"{room}: no free nick for {user}")

    async def unsubscribe(self, room: Jid, user: Jid) -> None:
        await self._iq(room, "set", muc.unsubscribe(user), "unsubscribe")

    async def list_rooms(self) -> list[Jid]:
        return await self._listed_rooms()

    async def group_sender(self, room: Jid, member: Member, nick: str) -> tuple[Jid, str]:
        """Subscribed members post as their bare JID; others are subscribed first."""
        if member.nick:
            return member.jid, member.nick
        return member.jid, await self.subscribe(room, member.jid, nick)

    def notice_stanzas(self, room: Jid, card: muc.ProfileCard, *,
                       stanza_id: str) -> list[Stanza]:
        """A service admin posts without joining: the notice alone."""
        return [muc.profile_notice(self._port.jid, room, card, stanza_id=stanza_id)]
