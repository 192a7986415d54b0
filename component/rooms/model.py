"""The group model that the store, the MUC adapters and the room services share.

A Startalk group is a persistent members-only XEP-0045 room whose members are affiliated
(owner, admin, member) and MucSub-subscribed (DESIGN.md §4). Values only, no I/O; the typed
requests and the reports, which carry errors, are in `requests.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, TypeVar

from component.jid import Jid

Affiliation = Literal["owner", "admin", "member"]
AffiliationChange = tuple[Jid, Affiliation | Literal["none"]]
T = TypeVar("T")
AFFILIATIONS: tuple[Affiliation, ...] = ("owner", "admin", "member")


@dataclass(frozen=True, slots=True)
class RoomOptions:
    """What the server's configuration form says (the server is the source of truth)."""

    name: str = ""
    description: str = ""
    public: bool = False
    persistent: bool = True
    members_only: bool = True
    max_users: int | None = None
    allow_subscription: bool = True


@dataclass(frozen=True, slots=True)
class OptionChange:
    """A partial configuration: None leaves a field as it is."""

    name: str | None = None
    description: str | None = None
    public: bool | None = None
    persistent: bool | None = None
    max_users: int | None = None

    def apply(self, options: RoomOptions) -> RoomOptions:
        def pick(new: T | None, old: T) -> T:
            return old if new is None else new

        return replace(options, name=pick(self.name, options.name),
                       description=pick(self.description, options.description),
                       public=pick(self.public, options.public),
                       persistent=pick(self.persistent, options.persistent),
                       max_users=pick(self.max_users, options.max_users))

    @property
    def empty(self) -> bool:
        return self == OptionChange()


@dataclass(frozen=True, slots=True)
class Profile:
    """What only the sidecar knows: the rest of the Startalk group card."""

    title: str = ""
    picture: str = ""
    version: int = 1


@dataclass(frozen=True, slots=True)
class Member:
    jid: Jid
    affiliation: Affiliation
    nick: str = ""  # the MucSub nick; "" while the member is not subscribed
    since: float = 0.0  # when the member joined: the owner hand-over order


@dataclass(frozen=True, slots=True)
class Room:
    jid: Jid
    options: RoomOptions
    members: tuple[Member, ...] = ()
    profile: Profile = Profile()
    created_here: bool = False
    synced_at: float = 0.0

    def member(self, jid: Jid) -> Member | None:
        return next((m for m in self.members if m.jid == jid), None)

    def owners(self) -> list[Member]:
        return [m for m in self.members if m.affiliation == "owner"]

    def is_manager(self, jid: Jid) -> bool:
        """Owners and admins may remove members (XEP-0045 §9, §10)."""
        member = self.member(jid)
        return member is not None and member.affiliation in ("owner", "admin")


@dataclass(frozen=True, slots=True)
class RoomSnapshot:
    """A room as the server showed it: configuration, affiliations, subscriptions."""

    options: RoomOptions
    affiliations: tuple[tuple[Jid, Affiliation], ...]
    nicks: dict[Jid, str] = field(default_factory=dict)


def successor(room: Room, leaving: Jid) -> Member | None:
    """Who becomes owner when `leaving` was the only owner: the member who joined first."""
    if any(m.jid != leaving for m in room.owners()):
        return None
    leaving_member = room.member(leaving)
    if leaving_member is None or leaving_member.affiliation != "owner":
        return None
    rest = [m for m in room.members if m.jid != leaving]
    return min(rest, key=lambda m: (m.since, str(m.jid)), default=None)
