"""Nicks of users from their vCards (XEP-0054), through the cache of `store/vcards.py`.

A failed lookup (link down, timeout, a server error) falls back to the user name and is not
cached, so one missing vCard never fails a room request.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from component.errors import ApiError
from component.jid import Jid
from component.services.concurrency import gather_bounded
from component.services.room_ports import IqPort
from component.store.vcards import VcardCache, VcardEntry
from component.xmpp import muc

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
            (self._fetch(jid) for jid in missing), self._concurrency) if entry is not None]
        if fetched:
            await self._cache.put_many(fetched)
        return found | {entry.jid: entry for entry in fetched}

    async def _fetch(self, jid: Jid) -> VcardEntry | None:
        stanza = muc.iq(self._port.jid, jid, self._port.new_id(), "get", muc.vcard_request())
        try:
            reply = await self._port.request(stanza)
        except ApiError as exc:
            log.info("no vCard for %s: %s", jid, exc.message)
            return None
        if reply.get("type") == "error":
            condition, _ = muc.error_of(reply)
            if condition != "item-not-found":  # Prosody's answer for "no vCard"
                log.info("no vCard for %s: %s", jid, condition)
                return None
            return VcardEntry(jid, found=False)
        card = muc.parse_vcard(reply)
        return VcardEntry(jid, card.found, card.nick, card.photo_url, card.photo_type,
                          card.photo_data)
