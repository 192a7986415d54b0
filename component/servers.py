"""The XMPP servers the daemon runs beside, and what each can do: one profile per
`xmpp.server_kind`, the only place that tells them apart.

app.py builds the per-server pieces from the profile (the MucServer, the account probe); the
services never ask which server they talk to. `Capabilities` is README's compatibility table
(kept equal by tests/unit/test_servers.py), and the real-server tests assert each server's
documented behaviour through it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from component.services.room_ports import MucServer
from component.xmpp.accounts import ProbeType
from component.xmpp.ejabberd_muc import EjabberdMuc
from component.xmpp.ports import MucPort
from component.xmpp.prosody_muc import ProsodyMuc, RoomRegistry

MucFactory = Callable[[MucPort, str, RoomRegistry], MucServer]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Features that depend on the server; refused with NOT_SUPPORTED (1010) where absent."""

    # MucSub (urn:xmpp:mucsub:0): members get every group message without joining, offline
    # ones included (the group card of send_notice_vcard too); a member's groupchat can be
    # injected; members are told of a destroy. Without it, only occupants get them.
    mucsub: bool
    # The MUC service lists hidden rooms to its admin: a resync into an empty store finds
    # every room, and clear_staff finds hidden rooms made by clients.
    lists_hidden_rooms: bool
    # Rooms have an occupant limit (muc#roomconfig_maxusers): max_users can be set.
    room_max_users: bool


@dataclass(frozen=True, slots=True)
class ServerProfile:
    kind: str
    capabilities: Capabilities
    probe_type: ProbeType  # the message that bounces for a missing account (xmpp/accounts.py)
    # The bounce of a message sent as a user comes back over the component stream (Prosody),
    # not to that user (ejabberd): then known accounts need no probing again (recipients.py).
    returns_bounces: bool
    make_muc: MucFactory

    def muc(self, port: MucPort, muc_domain: str, registry: RoomRegistry) -> MucServer:
        return self.make_muc(port, muc_domain, registry)


PROFILES = {
    "ejabberd": ServerProfile(
        "ejabberd", Capabilities(mucsub=True, lists_hidden_rooms=True, room_max_users=True),
        probe_type="headline", returns_bounces=False,
        make_muc=lambda port, domain, _registry: EjabberdMuc(port, domain)),
    "prosody": ServerProfile(
        "prosody", Capabilities(mucsub=False, lists_hidden_rooms=False, room_max_users=False),
        probe_type="normal", returns_bounces=True, make_muc=ProsodyMuc),
}


def profile_of(kind: str) -> ServerProfile:
    """The profile of a `server_kind` the config accepted (config_model.SERVER_KINDS)."""
    return PROFILES[kind]
