"""The room ad-hoc commands run by a real admin client against a real ejabberd; what the
server itself says afterwards is read through its own admin API."""

from __future__ import annotations

import pytest

from devenv.ejabberd import EjabberdServer
from tests.integration.adhoc_client import command_of, field_values, note_of, run
from tests.integration.conftest import Account, ClientFactory, RunningDaemon, UserFactory
from tests.integration.rooms_helpers import (
    new_room,
    server_affiliations,
    server_rooms,
    server_subscribers,
    wait_invitation,
)
from tests.integration.xmpp_client import XmppClient


@pytest.fixture(autouse=True)
async def linked(daemon: RunningDaemon) -> None:
    await daemon.ready()


class Admin:
    """The admin's client and the component's JID: one call per command stage."""

    def __init__(self, client: XmppClient, component: str) -> None:
        self.client, self.component = client, component

    async def submit(self, node: str, fields: dict[str, str | list[str]]) -> str:
        """Start `node`, submit its form, expect completion; the note."""
        first = command_of(await run(self.client, self.component, node))
        assert first.get("status") == "executing"
        done = command_of(await run(self.client, self.component, node,
                                    session=first.get("sessionid"), fields=fields))
        assert done.get("status") == "completed"
        return note_of(done)


@pytest.fixture
async def boss(admin: Account, client_factory: ClientFactory,
               ejabberd: EjabberdServer) -> Admin:
    return Admin(await client_factory(*admin, resource="rooms"), ejabberd.component_domain)


async def test_create_add_remove_destroy(boss: Admin, make_user: UserFactory,
                                         client_factory: ClientFactory,
                                         ejabberd: EjabberdServer) -> None:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    carol_client = await client_factory(*carol)
    room_id = new_room("adhoc")
    room = f"{room_id}@{ejabberd.muc_domain}"
    note = await boss.submit("create-room", {"room": room_id, "name": "Made by admin",
                                             "owner": alice.jid, "members": [bob.user]})
    assert note.splitlines() == [f"{room} created, owned by {alice.jid}", f"{bob.jid}: added"]
    assert await server_affiliations(ejabberd, room) == {alice.jid: "owner", bob.jid: "member"}
    assert {alice.jid, bob.jid} <= await server_subscribers(ejabberd, room)

    note = await boss.submit("add-members", {"room": room, "members": carol.jid})
    assert note == f"{carol.jid}: added"
    invitation = await wait_invitation(carol_client, room)
    assert invitation.get("from", "").startswith(alice.jid)

    note = await boss.submit("remove-members", {"room": room_id, "members": [alice.user]})
    assert note == f"{alice.jid}: removed; {bob.jid} is the owner now"
    assert await server_affiliations(ejabberd, room) == {bob.jid: "owner",
                                                         carol.jid: "member"}

    assert await boss.submit("destroy-room", {"room": room_id}) == f"{room} destroyed"
    assert room not in await server_rooms(ejabberd)


async def test_room_options_shown_then_changed(boss: Admin, make_user: UserFactory,
                                               ejabberd: EjabberdServer) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    room_id = new_room("adhoc")
    room = f"{room_id}@{ejabberd.muc_domain}"
    await boss.submit("create-room", {"room": room_id, "name": "Before", "owner": alice.user,
                                      "members": bob.user})
    first = command_of(await run(boss.client, boss.component, "room-options"))
    shown = command_of(await run(boss.client, boss.component, "room-options",
                                 session=first.get("sessionid"), fields={"room": room_id}))
    assert shown.get("status") == "executing"
    form = field_values(shown)
    assert (form["name"], form["owner"]) == (["Before"], [alice.jid])
    done = command_of(await run(boss.client, boss.component, "room-options",
                                session=shown.get("sessionid"),
                                fields={"name": "After", "max_users": "50",
                                        "owner": bob.jid}))
    assert (done.get("status"), note_of(done)) == ("completed", f"{room} changed")
    result = field_values(done)
    assert (result["name"], result["max_users"], result["owners"]) == (
        ["After"], ["50"], [bob.jid])
    assert await server_affiliations(ejabberd, room) == {alice.jid: "member",
                                                         bob.jid: "owner"}


async def test_clear_staff_and_resync(boss: Admin, make_user: UserFactory,
                                      ejabberd: EjabberdServer) -> None:
    alice, dave = make_user("alice"), make_user("dave")
    rooms = [new_room("adhoc") for _ in range(2)]
    for room_id in rooms:
        await boss.submit("create-room", {"room": room_id, "owner": alice.user,
                                          "members": dave.jid})
    note = await boss.submit("clear-staff", {"users": dave.jid})
    left = note.removeprefix(f"{dave.jid}: left ").split(", ")
    assert sorted(left) == sorted(f"{r}@{ejabberd.muc_domain}" for r in rooms)
    for room_id in rooms:
        assert dave.jid not in await server_affiliations(ejabberd,
                                                         f"{room_id}@{ejabberd.muc_domain}")
    report = command_of(await run(boss.client, boss.component, "resync"))
    assert report.get("status") == "completed"
    fields = field_values(report)
    assert int(fields["rooms"][0]) >= 2
    assert fields["failed"] == ["0"]


async def test_create_room_canceled_half_way_leaves_nothing(
        boss: Admin, make_user: UserFactory, ejabberd: EjabberdServer,
        daemon: RunningDaemon) -> None:
    alice = make_user("alice")
    room_id = new_room("canceled")
    first = command_of(await run(boss.client, boss.component, "create-room"))
    assert {"room", "name", "owner", "members"} <= set(field_values(first))
    session = first.get("sessionid")
    canceled = command_of(await run(boss.client, boss.component, "create-room",
                                    session=session, action="cancel"))
    assert canceled.get("status") == "canceled"
    late = await run(boss.client, boss.component, "create-room", session=session,
                     fields={"room": room_id, "owner": alice.user})
    assert late.get("type") == "error"
    assert f"{room_id}@{ejabberd.muc_domain}" not in await server_rooms(ejabberd)
    assert len(daemon.daemon.commands.sessions) == 0
