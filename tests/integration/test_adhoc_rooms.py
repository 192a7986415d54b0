"""The room ad-hoc commands run by a real admin client against a real server; what the
server itself says afterwards is read by the MUC service admin (`observer`)."""

from __future__ import annotations

import pytest
from lxml import etree

from component.servers import Capabilities
from devenv.servers import XmppServer
from tests.integration.adhoc_client import (
    command_of,
    error_condition,
    field_values,
    note_of,
    run,
)
from tests.integration.conftest import Account, ClientFactory, RunningDaemon, UserFactory
from tests.integration.rooms_helpers import (
    config_form,
    new_room,
    room_exists,
    server_affiliations,
    server_subscribers,
    subscribed,
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
               xmpp_server: XmppServer) -> Admin:
    return Admin(await client_factory(*admin, resource="rooms"), xmpp_server.component_domain)


async def test_create_add_remove_destroy(boss: Admin, make_user: UserFactory,
                                         client_factory: ClientFactory,
                                         xmpp_server: XmppServer, caps: Capabilities,
                                         observer: XmppClient) -> None:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    carol_client = await client_factory(*carol)
    room_id = new_room("adhoc")
    room = f"{room_id}@{xmpp_server.muc_domain}"
    note = await boss.submit("create-room", {"room": room_id, "name": "Made by admin",
                                             "owner": alice.jid, "members": [bob.user]})
    assert note.splitlines() == [f"{room} created, owned by {alice.jid}", f"{bob.jid}: added"]
    assert await server_affiliations(observer, room) == {alice.jid: "owner", bob.jid: "member"}
    assert subscribed(caps, alice.jid, bob.jid) <= await server_subscribers(observer, room, caps)

    note = await boss.submit("add-members", {"room": room, "members": carol.jid})
    assert note == f"{carol.jid}: added"
    invitation = await wait_invitation(carol_client, room)
    assert invitation.get("from", "").startswith(alice.jid)

    note = await boss.submit("remove-members", {"room": room_id, "members": [alice.user]})
    assert note == f"{alice.jid}: removed; {bob.jid} is the owner now"
    assert await server_affiliations(observer, room) == {bob.jid: "owner",
                                                         carol.jid: "member"}

    assert await boss.submit("destroy-room", {"room": room_id}) == f"{room} destroyed"
    assert not await room_exists(observer, room)


async def test_room_options_shown_then_changed(boss: Admin, make_user: UserFactory,
                                               xmpp_server: XmppServer, caps: Capabilities,
                                               observer: XmppClient) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    room_id = new_room("adhoc")
    room = f"{room_id}@{xmpp_server.muc_domain}"
    await boss.submit("create-room", {"room": room_id, "name": "Before", "owner": alice.user,
                                      "members": bob.user})

    async def shown_form() -> etree._Element:
        first = command_of(await run(boss.client, boss.component, "room-options"))
        shown = command_of(await run(boss.client, boss.component, "room-options",
                                     session=first.get("sessionid"), fields={"room": room_id}))
        assert shown.get("status") == "executing"
        return shown

    shown = await shown_form()
    form = field_values(shown)
    assert (form["name"], form["owner"]) == (["Before"], [alice.jid])
    changes: dict[str, str | list[str]] = {"name": "After", "max_users": "50",
                                           "owner": bob.jid}
    if not caps.room_max_users:  # refused, nothing changed; then again without it
        refused = await run(boss.client, boss.component, "room-options",
                            session=shown.get("sessionid"), fields=changes)
        assert error_condition(refused) == "feature-not-implemented"
        assert await server_affiliations(observer, room) == {alice.jid: "owner",
                                                             bob.jid: "member"}
        del changes["max_users"]
        shown = await shown_form()
    done = command_of(await run(boss.client, boss.component, "room-options",
                                session=shown.get("sessionid"), fields=changes))
    assert (done.get("status"), note_of(done)) == ("completed", f"{room} changed")
    result = field_values(done)
    assert (result["name"], result["max_users"], result["owner"]) == (
        ["After"], ["50" if caps.room_max_users else ""], [bob.jid])
    assert await server_affiliations(observer, room) == {alice.jid: "member",
                                                         bob.jid: "owner"}


async def test_room_options_keep_what_the_form_leaves_out(
        boss: Admin, make_user: UserFactory, client_factory: ClientFactory,
        xmpp_server: XmppServer, caps: Capabilities) -> None:
    alice = make_user("alice")
    room_id = new_room("adhoc")
    room = f"{room_id}@{xmpp_server.muc_domain}"
    await boss.submit("create-room", {"room": room_id, "name": "Kept name",
                                      "description": "Kept description", "owner": alice.user})
    first = command_of(await run(boss.client, boss.component, "room-options"))
    shown = command_of(await run(boss.client, boss.component, "room-options",
                                 session=first.get("sessionid"), fields={"room": room_id}))
    # One field only, as a client that sends just what was changed: the others keep theirs.
    only = {"max_users": "42"} if caps.room_max_users else {"public": "1"}
    done = command_of(await run(boss.client, boss.component, "room-options",
                                session=shown.get("sessionid"), fields=dict(only)))
    assert (done.get("status"), note_of(done)) == ("completed", f"{room} changed")
    result = field_values(done)
    form = await config_form(await client_factory(*alice), room)
    assert form["muc#roomconfig_roomname"] == ["Kept name"]
    assert form["muc#roomconfig_roomdesc"] == ["Kept description"]
    assert form.get("muc#roomconfig_maxusers") == (["42"] if caps.room_max_users else None)
    assert (result["name"], result["description"]) == (["Kept name"], ["Kept description"])
    # One name per field in both forms: the result says `owner`, as the form to fill does.
    assert set(field_values(shown)) <= set(result)
    assert result["owner"] == [alice.jid]


async def test_clear_staff_and_resync(boss: Admin, make_user: UserFactory,
                                      xmpp_server: XmppServer, observer: XmppClient) -> None:
    alice, dave = make_user("alice"), make_user("dave")
    rooms = [new_room("adhoc") for _ in range(2)]
    for room_id in rooms:
        await boss.submit("create-room", {"room": room_id, "owner": alice.user,
                                          "members": dave.jid})
    note = await boss.submit("clear-staff", {"users": dave.jid})
    left = note.removeprefix(f"{dave.jid}: left ").split(", ")
    assert sorted(left) == sorted(f"{r}@{xmpp_server.muc_domain}" for r in rooms)
    for room_id in rooms:
        assert dave.jid not in await server_affiliations(observer,
                                                         f"{room_id}@{xmpp_server.muc_domain}")
    report = command_of(await run(boss.client, boss.component, "resync"))
    assert report.get("status") == "completed"
    fields = field_values(report)
    assert int(fields["rooms"][0]) >= 2
    assert fields["failed"] == ["0"]


async def test_create_room_canceled_half_way_leaves_nothing(
        boss: Admin, make_user: UserFactory, xmpp_server: XmppServer,
        observer: XmppClient, daemon: RunningDaemon) -> None:
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
    assert not await room_exists(observer, f"{room_id}@{xmpp_server.muc_domain}")
    assert len(daemon.daemon.commands.sessions) == 0
