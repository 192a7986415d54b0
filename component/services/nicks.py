"""Nicks of users from their vCards (XEP-0054), through the cache of `store/vcards.py`.

For room requests a failed lookup (link down, timeout, a server error) falls back to the
user name and is not cached, so one missing vCard never fails a room request; `vcard()` (one
user's, for get_user_nick) lets the failure through, with the status it has everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from component.errors import ApiError, XmppError
from component.jid import Jid
from component.services.concurrency import gather_bounded
from component.store.vcards import VcardCache, VcardEntry
from component.xmpp import muc
from component.xmpp.ports import IqPort

log = logging.getLogger(__name__)


class NickDirectory:
    def __init__(self, port: IqPort, cache: VcardCache, *, concurrency: int = 16) -> None:
        self._port = port
        self._cache = cache
        self._concurrency = concurrency

    async def nicks(self, jids: Sequence[Jid]) -> dict[Jid, str]:
        """Each user's NICKNAME, else FN, else user name."""
        entries = await self.vcards(jids)
        return {jid: entry.nick if (entry := entries.get(jid)) and entry.nick else jid.local
                for jid in jids}

    async def vcards(self, jids: Sequence[Jid]) -> dict[Jid, VcardEntry]:
        """Fresh cached entries, the others fetched (failed fetches are left out)."""
        wanted = list(dict.fromkeys(jid.bare for jid in jids))
        found = await self._cache.get_many(wanted)
        missing = [jid for jid in wanted if jid not in found]
        fetched = [entry for entry in await gather_bounded(
            (self._fetch_or_none(jid) for jid in missing), self._concurrency)
            if entry is not None]
        if fetched:
            await self._cache.put_many(fetched)
        return found | {entry.jid: entry for entry in fetched}

    async def vcard(self, jid: Jid) -> VcardEntry:
        """One user's entry, cached or fetched; a failed fetch raises its ApiError."""
        jid = jid.bare
        cached = await self._cache.get_many([jid])
        if jid in cached:
            return cached[jid]
        entry = await self._fetch(jid)
        await self._cache.put_many([entry])
        return entry

    async def _fetch_or_none(self, jid: Jid) -> VcardEntry | None:
        try:
            return await self._fetch(jid)
        except ApiError as exc:
            log.info("no vCard for %s: %s", jid, exc.message)
            return None

    async def _fetch(self, jid: Jid) -> VcardEntry:
        stanza = muc.iq(self._port.jid, jid, self._port.new_id(), "get", muc.vcard_request())
        reply = await self._port.request(stanza)
        if reply.get("type") == "error":
            condition, text = muc.error_of(reply)
            if condition != "item-not-found":  # Prosody's answer for "no vCard"
                raise XmppError(f"vCard of {jid}", condition=condition, text=text)
            return VcardEntry(jid, found=False)
        card = muc.parse_vcard(reply)
        return VcardEntry(jid, card.found, card.nick, card.photo_url, card.photo_type,
                          card.photo_data)
