"""Room management against a real ejabberd: options checked in the server's own config form,
admin removal with owner hand-over, clear_staff over three rooms (one made by a plain client),
the group profile push, and the daemon's refusals of bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from devenv.ejabberd import EjabberdServer
from tests.integration.conftest import Api, ClientFactory, RunningDaemon, UserFactory
from tests.integration.rooms_helpers import (
    MUCSUB_MESSAGES,
    client_room,
    config_form,
    mucsub_item,
    new_room,
    server_affiliations,
    server_subscribers,
)

VCARD_UPDATE = "{http://jabber.org/protocol/muc#vcard_update}vcard_updte"


async def create(api: Api, room_id: str, owner: str, *members: str, **extra: str) -> None:
    status, reply = await api("create_muc", {"muc_id": room_id, "muc_owner": owner, **extra})
    assert status == 200, reply
    if members:
        status, reply = await api("add_muc_user", {"muc_id": room_id, "muc_owner": owner,
                                                   "muc_member": list(members)})
        assert status == 200, reply


async def test_options_read_and_changed_on_the_server(
        api: Api, make_user: UserFactory, client_factory: ClientFactory,
        ejabberd: EjabberdServer) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    room_id = new_room()
    room = f"{room_id}@{ejabberd.muc_domain}"
    await create(api, room_id, alice.user, bob.user, muc_name="Before")
    status, reply = await api("management/get_muc_opts", {"muc": room_id,
                                                          "domain": ejabberd.muc_domain})
    assert status == 200, reply
    assert reply["data"]["mucid"] == room
    assert reply["data"]["showname"] == "Before"
    assert isinstance(reply["data"]["maxusers"], int)
    assert reply["data"]["owner"] == [{"user": alice.user, "host": ejabberd.host}]

    status, reply = await api("management/change_muc_opts", {
        "muc": room_id, "domain": ejabberd.muc_domain, "name": "After", "public": "true",
        "persistent": "true", "max_users": "50", "affiliations": bob.user})
    assert (status, reply["errmsg"]) == (200, "Muc set opt ok"), reply
    assert reply["data"]["owner"] == [{"user": bob.user, "host": ejabberd.host}]
    bob_client = await client_factory(*bob)  # now an owner: the server shows him the form
    form = await config_form(bob_client, room)
    assert form["muc#roomconfig_roomname"] == ["After"]
    assert form["muc#roomconfig_publicroom"] == ["1"]
    assert form["muc#roomconfig_persistentroom"] == ["1"]
    assert form["muc#roomconfig_membersonly"] == ["1"]
    assert form["muc#roomconfig_maxusers"] == ["50"]
    assert form["allow_subscription"] == ["1"]
    assert await server_affiliations(ejabberd, room) == {alice.jid: "member",
                                                         bob.jid: "owner"}
    status, reply = await api("management/get_muc_opts", {"muc": room_id,
                                                          "domain": ejabberd.muc_domain})
    assert (reply["data"]["showname"], reply["data"]["maxusers"], reply["data"]["public"]) == (
        "After", 50, True)


async def test_admin_removal_hands_the_room_to_the_first_member(
        api: Api, make_user: UserFactory, ejabberd: EjabberdServer) -> None:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    room_id = new_room()
    room = f"{room_id}@{ejabberd.muc_domain}"
    await create(api, room_id, alice.user, bob.user)
    await create_members(api, room_id, alice.user, carol.user)
    status, reply = await api("management/del_muc_user", {
        "muc": room_id, "domain": ejabberd.muc_domain, "user": alice.user,
        "host": ejabberd.host})
    assert (status, reply["data"]["new_owner"]) == (200, bob.jid), reply
    assert await server_affiliations(ejabberd, room) == {bob.jid: "owner",
                                                         carol.jid: "member"}
    assert await server_subscribers(ejabberd, room) == {bob.jid, carol.jid}
    status, reply = await api("management/del_muc_user", {
        "muc": room_id, "domain": ejabberd.muc_domain, "user": alice.user,
        "host": ejabberd.host})
    assert status == 404, reply


async def create_members(api: Api, room_id: str, owner: str, *members: str) -> None:
    status, reply = await api("add_muc_user", {"muc_id": room_id, "muc_owner": owner,
                                               "muc_member": list(members)})
    assert status == 200, reply


async def test_clear_staff_over_three_rooms(api: Api, make_user: UserFactory,
                                            client_factory: ClientFactory,
                                            ejabberd: EjabberdServer) -> None:
    alice, bob, carol, leaver = (make_user(n) for n in ("alice", "bob", "carol", "leaver"))
    first, second, third = new_room(), new_room(), new_room("byclient")
    await create(api, first, alice.user, leaver.user)
    await create(api, second, leaver.user, bob.user, carol.user)
    room3 = f"{third}@{ejabberd.muc_domain}"
    await client_room(await client_factory(*carol), room3, "carol", leaver.jid)
    assert leaver.jid in await server_affiliations(ejabberd, room3)

    status, reply = await api("clear_staff", {"host": ejabberd.host, "users": [leaver.user]})
    assert status == 200, reply
    (item,) = reply["data"]["items"]
    assert {r["mucid"]: r["new_owner"] for r in item["rooms"]} == {
        f"{first}@{ejabberd.muc_domain}": None, f"{second}@{ejabberd.muc_domain}": bob.jid,
        room3: None}
    for room_id in (first, second, third):
        room = f"{room_id}@{ejabberd.muc_domain}"
        assert leaver.jid not in await server_affiliations(ejabberd, room)
        assert leaver.jid not in await server_subscribers(ejabberd, room)
    assert await server_affiliations(ejabberd, f"{second}@{ejabberd.muc_domain}") == {
        bob.jid: "owner", carol.jid: "member"}
    assert await server_affiliations(ejabberd, room3) == {carol.jid: "owner"}


async def test_profile_push_reaches_the_members(api: Api, make_user: UserFactory,
                                                client_factory: ClientFactory,
                                                ejabberd: EjabberdServer) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    room_id = new_room()
    await create(api, room_id, alice.user, bob.user, muc_name="Team")
    bob_client = await client_factory(*bob)
    status, reply = await api(
        f"send_notice_vcard?muc_name={room_id}@{ejabberd.muc_domain}&muc_pic=/p.png",
        method="GET")
    assert (status, reply["data"]["version"]) == (200, 2), reply
    event = await bob_client.wait_message(
        lambda m: (i := mucsub_item(m, MUCSUB_MESSAGES)) is not None
        and i.find(VCARD_UPDATE) is not None)
    card = mucsub_item(event, MUCSUB_MESSAGES).find(VCARD_UPDATE)  # type: ignore[union-attr]
    assert card is not None
    assert (card.get("nick"), card.get("pic"), card.get("version")) == ("Team", "/p.png", "2")


def refused(room_id: str, host: str) -> dict[str, tuple[str, Any, int]]:
    return {
        "missing room": ("muc_users", {"muc_id": "no-such-room"}, 404),
        "bad room JID": ("create_muc", {"muc_id": "bad room", "muc_owner": "a"}, 400),
        "bad owner JID": ("create_muc", {"muc_id": "r", "muc_owner": "a/b"}, 400),
        "members not an array": ("add_muc_user", {"muc_id": room_id, "muc_owner": "{owner}",
                                                  "muc_member": "bob"}, 400),
        "owner a number list": ("destroy_muc", {"muc_id": room_id, "muc_owner": [1]}, 400),
        "max_users a word": ("management/change_muc_opts", {"muc": room_id, "domain": "{muc}",
                                                            "max_users": "lots"}, 400),
        "10,000 members": ("add_muc_user", {"muc_id": room_id, "muc_owner": "{owner}",
                                            "muc_member": [f"u{n}" for n in range(10_000)]},
                           413),
        "users of clear_staff a string": ("clear_staff", {"host": host, "users": "x"}, 400),
        "not JSON": ("create_muc", b"{'muc_id':", 400),
    }


@pytest.mark.parametrize("case", list(refused("r", "h")))
async def test_bad_input_gets_a_clear_error_and_the_link_stays(
        case: str, api: Api, make_user: UserFactory, ejabberd: EjabberdServer,
        daemon: RunningDaemon) -> None:
    owner = make_user("owner")
    room_id = new_room()
    await create(api, room_id, owner.user)
    reconnects = daemon.daemon.link.reconnects
    path, body, expected = refused(room_id, ejabberd.host)[case]
    if isinstance(body, dict):
        body = {k: v.replace("{owner}", owner.user).replace("{muc}", ejabberd.muc_domain)
                if isinstance(v, str) else v for k, v in body.items()}
    status, reply = await api(path, body)
    assert (status, reply["ret"]) == (expected, False), reply
    assert reply["errmsg"]
    assert reply["errcode"] >= 1000
    assert await server_affiliations(ejabberd, f"{room_id}@{ejabberd.muc_domain}") == {
        owner.jid: "owner"}
    await asyncio.sleep(0)
    assert daemon.daemon.link.reconnects == reconnects
