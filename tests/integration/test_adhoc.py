"""Ad-hoc commands (XEP-0050) at the component's JID, run by real c2s clients."""

from __future__ import annotations

import pytest

from devenv.servers import XmppServer
from tests.integration.adhoc_client import (
    command_nodes,
    command_of,
    error_condition,
    field_values,
    note_of,
    run,
)
from tests.integration.conftest import Account, ClientFactory, RunningDaemon, UserFactory
from tests.integration.xmpp_client import XmppClient


@pytest.fixture(autouse=True)
async def linked(daemon: RunningDaemon) -> None:
    """Commands need the daemon's link up (else the server answers for the missing route)."""
    await daemon.ready()


ADMIN_NODES = {"create-room", "add-members", "remove-members", "destroy-room", "room-options",
               "clear-staff", "add-host", "resync", "status"}


async def admin_client(client_factory: ClientFactory, admin: Account) -> XmppClient:
    return await client_factory(*admin, resource="admin")


async def test_listing_depends_on_who_asks(
        admin: Account, make_user: UserFactory, client_factory: ClientFactory,
        xmpp_server: XmppServer) -> None:
    boss = await admin_client(client_factory, admin)
    user = await client_factory(*make_user("plain"))
    admin_nodes = await command_nodes(boss, xmpp_server.component_domain)
    assert sorted(admin_nodes) == sorted(ADMIN_NODES | {"get-web-key"})
    assert await command_nodes(user, xmpp_server.component_domain) == ["get-web-key"]


async def test_admin_commands_are_forbidden_to_a_normal_user(
        admin: Account, make_user: UserFactory, client_factory: ClientFactory,
        xmpp_server: XmppServer) -> None:
    boss = await admin_client(client_factory, admin)
    user = await client_factory(*make_user("plain"))
    admin_only = set(await command_nodes(boss, xmpp_server.component_domain)) - {"get-web-key"}
    assert admin_only
    for node in sorted(admin_only):
        reply = await run(user, xmpp_server.component_domain, node)
        assert error_condition(reply) == "forbidden", node


async def test_status(admin: Account, client_factory: ClientFactory,
                      xmpp_server: XmppServer) -> None:
    boss = await admin_client(client_factory, admin)
    command = command_of(await run(boss, xmpp_server.component_domain, "status"))
    assert command.get("status") == "completed"
    fields = field_values(command)
    assert fields["link"] == ["up"]
    assert int(fields["queue"][0]) >= 0
    assert int(fields["rooms"][0]) >= 0
    assert int(fields["users"][0]) >= 0
    assert int(fields["uptime"][0]) >= 0
    assert xmpp_server.host in fields["hosts"][0].split()


async def test_add_host_in_two_stages(admin: Account, client_factory: ClientFactory,
                                      xmpp_server: XmppServer, daemon: RunningDaemon) -> None:
    boss = await admin_client(client_factory, admin)
    first = command_of(await run(boss, xmpp_server.component_domain, "add-host"))
    assert (first.get("status"), list(field_values(first))) == ("executing", ["host"])
    done = command_of(await run(boss, xmpp_server.component_domain, "add-host",
                                session=first.get("sessionid"),
                                fields={"host": "by-admin.test.org"}))
    assert done.get("status") == "completed"
    assert note_of(done) == "by-admin.test.org is now served"
    assert daemon.daemon.hosts.is_served("by-admin.test.org")


async def test_cancel_half_way_leaves_nothing_behind(
        admin: Account, client_factory: ClientFactory, xmpp_server: XmppServer,
        daemon: RunningDaemon) -> None:
    boss = await admin_client(client_factory, admin)
    first = command_of(await run(boss, xmpp_server.component_domain, "add-host"))
    session = first.get("sessionid")
    canceled = command_of(await run(boss, xmpp_server.component_domain, "add-host",
                                    session=session, action="cancel"))
    assert canceled.get("status") == "canceled"
    late = await run(boss, xmpp_server.component_domain, "add-host", session=session,
                     fields={"host": "canceled.test.org"})
    assert error_condition(late) == "bad-request"
    assert not daemon.daemon.hosts.is_served("canceled.test.org")
    assert len(daemon.daemon.commands.sessions) == 0
