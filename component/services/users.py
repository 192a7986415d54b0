"""Users as the API sees them: nick and avatar from their vCard (get_user_nick).

vCards come through the rooms' nick directory (XEP-0054 vcard-temp from the component's JID,
cached in the store while fresh). An empty vCard is ambiguous on ejabberd (no vCard, or no
account), so the account is then asked about (services/recipients.py: the probe's answers,
remembered); an unknown user is a NotFound, never an empty success. Concurrent lookups of one
user share one fetch. Only a photo whose
TYPE is an image is served (README): anything else is as if there were none.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Protocol

from component.errors import DomainNotServed, NotFound
from component.jid import Jid
from component.services.ports import HostPolicy
from component.store.vcards import VcardEntry

IMAGE_TYPE = re.compile(r"^image/[a-z0-9.+-]{1,64}$")


class VcardSource(Protocol):
    async def vcard(self, jid: Jid) -> VcardEntry:
        """A fresh entry, from the cache or the server; a failed fetch raises its ApiError
        (LinkDown, XmppTimeout, XmppError: the statuses README gives them)."""


class Accounts(Protocol):
    async def exists(self, user: Jid) -> bool: ...


@dataclass(frozen=True, slots=True)
class UserProfile:
    jid: Jid
    nick: str  # NICKNAME, else FN, else the user name
    photo_url: str | None  # the vCard's EXTVAL
    photo_inline: bool  # the vCard carries the photo itself (served by the daemon)
    has_vcard: bool


@dataclass(frozen=True, slots=True)
class Photo:
    type: str  # an image/* media type, lower-cased
    data: bytes


def image_type(entry: VcardEntry) -> str | None:
    """The inline photo's media type if it is an image's, else None."""
    declared = (entry.photo_type or "").strip().lower()
    return declared if entry.photo_data is not None and IMAGE_TYPE.match(declared) else None


class UserService:
    def __init__(self, vcards: VcardSource, accounts: Accounts, hosts: HostPolicy) -> None:
        self._vcards = vcards
        self._accounts = accounts  # remembers its answers
        self._hosts = hosts
        self._fetching: dict[Jid, asyncio.Future[VcardEntry]] = {}

    async def profile(self, user: Jid) -> UserProfile:
        """Nick and avatar of a user of a served domain; NotFound for an unknown account."""
        entry = await self._entry_of_user(user)
        return UserProfile(entry.jid, entry.nick or entry.jid.local, entry.photo or None,
                           image_type(entry) is not None, entry.found)

    async def photo(self, user: Jid) -> Photo:
        """The image a vCard carries inline; NotFound when it has none, or another type."""
        entry = await self._entry_of_user(user)
        if entry.photo_data is None:
            raise NotFound(f"{entry.jid} has no inline photo")
        media_type = image_type(entry)
        if media_type is None:
            raise NotFound(f"{entry.jid} has no inline image: its photo's type is "
                           f"{entry.photo_type or 'not given'!r}")
        return Photo(media_type, entry.photo_data)

    async def _entry_of_user(self, user: Jid) -> VcardEntry:
        user = user.bare
        if not user.local:
            raise NotFound(f"{user} is not a user")
        if not self._hosts.is_served(user.domain):
            raise DomainNotServed(f"domain {user.domain} is not served by this API")
        entry = await self._entry(user)
        if not entry.found and not await self._accounts.exists(user):
            raise NotFound(f"no such user: {user}")
        return entry

    async def _entry(self, user: Jid) -> VcardEntry:
        fetching = self._fetching.get(user)
        if fetching is None:
            fetching = asyncio.ensure_future(self._vcards.vcard(user))
            self._fetching[user] = fetching
            fetching.add_done_callback(lambda _: self._fetching.pop(user, None))
        return await asyncio.shield(fetching)
