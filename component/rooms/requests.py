"""Typed room requests (what the HTTP and ad-hoc adapters parse) and what the room services
report back, refusals included (DESIGN.md §4). Values only, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from component.errors import ApiError
from component.jid import Jid
from component.rooms.model import OptionChange

# -- requests --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CreateRoom:
    room: Jid
    owner: Jid
    name: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class MemberChange:
    """add_muc_user / del_muc_user: `actor` invites or removes `users`."""

    room: Jid
    actor: Jid
    users: tuple[Jid, ...]


@dataclass(frozen=True, slots=True)
class DestroyRoom:
    room: Jid
    owner: Jid
    reason: str = "management close"


@dataclass(frozen=True, slots=True)
class ChangeOptions:
    room: Jid
    change: OptionChange = OptionChange()
    new_owner: Jid | None = None


@dataclass(frozen=True, slots=True)
class ProfileUpdate:
    """send_notice_vcard: optional new profile values, then a push to the members."""

    room: Jid
    name: str | None = None
    description: str | None = None
    title: str | None = None
    picture: str | None = None


# -- reports ---------------------------------------------------------------------------------

MemberStatus = Literal["added", "already a member", "removed", "not a member", "refused"]


@dataclass(frozen=True, slots=True)
class MemberOutcome:
    """What happened to one user of a request; `error` is set when it was refused."""

    user: Jid
    status: MemberStatus
    error: ApiError | None = None
    new_owner: Jid | None = None  # set when the removal handed the room over


@dataclass(frozen=True, slots=True)
class Removal:
    room: Jid
    user: Jid
    new_owner: Jid | None


@dataclass(frozen=True, slots=True)
class StaffOutcome:
    """clear_staff, per user: the rooms left (and hand-overs), or the rooms that failed."""

    user: Jid
    removed: tuple[Removal, ...] = ()
    failed: tuple[tuple[Jid, ApiError], ...] = ()


@dataclass(frozen=True, slots=True)
class ResyncReport:
    rooms: int  # rooms listed by the server
    synced: int  # rooms read again
    removed: int  # rooms gone from the server, dropped from the store
    failed: int
    seconds: float
