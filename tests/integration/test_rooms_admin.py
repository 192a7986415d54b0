"""Room management against a real server: options checked in the server's own config form,
admin removal with owner hand-over, clear_staff over three rooms (one made by a plain client),
the group profile push, and the daemon's refusals of bad input; what differs between ejabberd
and Prosody is asserted through the capability table."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lxml import etree

from component.servers import Capabilities
from devenv.servers import XmppServer
from tests.integration.conftest import Api, ClientFactory, RunningDaemon, UserFactory
from tests.integration.rooms_helpers import (
    MUCSUB_MESSAGES,
    client_room,
    config_form,
    mucsub_item,
    new_room,
    room_exists,
    server_affiliations,
    server_subscribers,
    subscribed,
)
from tests.integration.xmpp_client import XmppClient

VCARD_UPDATE = "{http://jabber.org/protocol/muc#vcard_update}vcard_updte"
MUC = "http://jabber.org/protocol/muc"


async def create(api: Api, room_id: str, owner: str, *members: str, **extra: str) -> None:
    status, reply = await api("create_muc", {"muc_id": room_id, "muc_owner": owner, **extra})
    assert status == 200, reply
    if members:
        status, reply = await api("add_muc_user", {"muc_id": room_id, "muc_owner": owner,
                                                   "muc_member": list(members)})
        assert status == 200, reply


async def test_options_read_and_changed_on_the_server(
        api: Api, make_user: UserFactory, client_factory: ClientFactory,
        xmpp_server: XmppServer, caps: Capabilities, observer: XmppClient) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    room_id = new_room()
    room = f"{room_id}@{xmpp_server.muc_domain}"
    await create(api, room_id, alice.user, bob.user, muc_name="Before")
    status, reply = await api("management/get_muc_opts", {"muc": room_id,
                                                          "domain": xmpp_server.muc_domain})
    assert status == 200, reply
    assert reply["data"]["mucid"] == room
    assert reply["data"]["showname"] == "Before"
    assert isinstance(reply["data"]["maxusers"], int if caps.room_max_users else type(None))
    assert reply["data"]["owner"] == [{"user": alice.user, "host": xmpp_server.host}]

    change = {"muc": room_id, "domain": xmpp_server.muc_domain, "name": "After",
              "public": "true", "persistent": "true", "max_users": "50",
              "affiliations": bob.user}
    if not caps.room_max_users:  # refused before anything changed, then asked without it
        status, reply = await api("management/change_muc_opts", change)
        assert (status, reply["errcode"]) == (501, 1010), reply
        assert "max_users" in reply["errmsg"]
        assert await server_affiliations(observer, room) == {alice.jid: "owner",
                                                             bob.jid: "member"}
        del change["max_users"]
    status, reply = await api("management/change_muc_opts", change)
    assert (status, reply["errmsg"]) == (200, "Muc set opt ok"), reply
    assert reply["data"]["owner"] == [{"user": bob.user, "host": xmpp_server.host}]
    bob_client = await client_factory(*bob)  # now an owner: the server shows him the form
    form = await config_form(bob_client, room)
    assert form["muc#roomconfig_roomname"] == ["After"]
    assert form["muc#roomconfig_publicroom"] == ["1"]
    assert form["muc#roomconfig_persistentroom"] == ["1"]
    assert form["muc#roomconfig_membersonly"] == ["1"]
    assert form.get("muc#roomconfig_maxusers") == (["50"] if caps.room_max_users else None)
    assert form.get("allow_subscription") == (["1"] if caps.mucsub else None)
    assert await server_affiliations(observer, room) == {alice.jid: "member",
                                                         bob.jid: "owner"}
    status, reply = await api("management/get_muc_opts", {"muc": room_id,
                                                          "domain": xmpp_server.muc_domain})
    assert (reply["data"]["showname"], reply["data"]["maxusers"], reply["data"]["public"]) == (
        "After", 50 if caps.room_max_users else None, True)


async def test_admin_removal_hands_the_room_to_the_first_member(
        api: Api, make_user: UserFactory, xmpp_server: XmppServer, caps: Capabilities,
        observer: XmppClient) -> None:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    room_id = new_room()
    room = f"{room_id}@{xmpp_server.muc_domain}"
    await create(api, room_id, alice.user, bob.user)
    await create_members(api, room_id, alice.user, carol.user)
    status, reply = await api("management/del_muc_user", {
        "muc": room_id, "domain": xmpp_server.muc_domain, "user": alice.user,
        "host": xmpp_server.host})
    assert (status, reply["data"]["new_owner"]) == (200, bob.jid), reply
    assert await server_affiliations(observer, room) == {bob.jid: "owner",
                                                         carol.jid: "member"}
    assert await server_subscribers(observer, room, caps) == subscribed(caps, bob.jid, carol.jid)
    status, reply = await api("management/del_muc_user", {
        "muc": room_id, "domain": xmpp_server.muc_domain, "user": alice.user,
        "host": xmpp_server.host})
    assert status == 404, reply


async def create_members(api: Api, room_id: str, owner: str, *members: str) -> None:
    status, reply = await api("add_muc_user", {"muc_id": room_id, "muc_owner": owner,
                                               "muc_member": list(members)})
    assert status == 200, reply


async def test_clear_staff_over_three_rooms(api: Api, make_user: UserFactory,
                                            client_factory: ClientFactory,
                                            xmpp_server: XmppServer, caps: Capabilities,
                                            observer: XmppClient) -> None:
    alice, bob, carol, leaver = (make_user(n) for n in ("alice", "bob", "carol", "leaver"))
    first, second, third = (f"{r}@{xmpp_server.muc_domain}"
                            for r in (new_room(), new_room(), new_room("byclient")))
    await create(api, first.partition("@")[0], alice.user, leaver.user)
    await create(api, second.partition("@")[0], leaver.user, bob.user, carol.user)
    await client_room(await client_factory(*carol), third, "carol", leaver.jid)  # hidden
    assert leaver.jid in await server_affiliations(observer, third)

    status, reply = await api("clear_staff", {"host": xmpp_server.host, "users": [leaver.user]})
    assert status == 200, reply
    (item,) = reply["data"]["items"]
    # A hidden room made by a client is found only where the service lists hidden rooms.
    cleared = {first: None, second: bob.jid} | ({third: None} if caps.lists_hidden_rooms
                                                else {})
    assert {r["mucid"]: r["new_owner"] for r in item["rooms"]} == cleared
    for room in cleared:
        assert leaver.jid not in await server_affiliations(observer, room)
        assert leaver.jid not in await server_subscribers(observer, room, caps)
    assert await server_affiliations(observer, second) == {bob.jid: "owner",
                                                           carol.jid: "member"}
    assert await server_affiliations(observer, third) == {carol.jid: "owner"} | (
        {} if caps.lists_hidden_rooms else {leaver.jid: "member"})


async def test_profile_push_reaches_the_members(api: Api, make_user: UserFactory,
                                                client_factory: ClientFactory,
                                                xmpp_server: XmppServer,
                                                caps: Capabilities) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    room_id = new_room()
    room = f"{room_id}@{xmpp_server.muc_domain}"
    await create(api, room_id, alice.user, bob.user, muc_name="Team")
    bob_client = await client_factory(*bob)
    if not caps.mucsub:  # only occupants get a room's messages: bob's client joins
        bob_client.send(f"<presence to='{room}/bob'><x xmlns='{MUC}'/></presence>")
        await bob_client.wait_for(lambda el: el.get("from") == f"{room}/bob")

    def card_of(message: etree._Element) -> etree._Element | None:
        inner = mucsub_item(message, MUCSUB_MESSAGES) if caps.mucsub else message
        return inner.find(VCARD_UPDATE) if inner is not None else None

    status, reply = await api(f"send_notice_vcard?muc_name={room}&muc_pic=/p.png",
                              method="GET")
    assert (status, reply["data"]["version"]) == (200, 2), reply
    card = card_of(await bob_client.wait_message(lambda m: card_of(m) is not None))
    assert card is not None
    assert (card.get("nick"), card.get("pic"), card.get("version")) == ("Team", "/p.png", "2")


async def test_a_destroyed_room_can_be_made_again(api: Api, make_user: UserFactory,
                                                  xmpp_server: XmppServer,
                                                  observer: XmppClient) -> None:
    """Prosody keeps a tombstone of a destroyed room (`gone`); a service admin's join
    replaces it, so the name is free again on both servers."""
    alice, bob = make_user("alice"), make_user("bob")
    room_id = new_room()
    room = f"{room_id}@{xmpp_server.muc_domain}"
    await create(api, room_id, alice.user, bob.user, muc_name="First")
    status, reply = await api("destroy_muc", {"muc_id": room_id, "muc_owner": alice.user})
    assert status == 200, reply
    assert not await room_exists(observer, room)
    status, reply = await api("muc_users", {"muc_id": room_id})
    assert status == 404, reply
    await create(api, room_id, bob.user, muc_name="Second")
    assert await server_affiliations(observer, room) == {bob.jid: "owner"}
    status, reply = await api("management/get_muc_opts", {"muc": room_id})
    assert (status, reply["data"]["showname"]) == (200, "Second"), reply


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
        case: str, api: Api, make_user: UserFactory, xmpp_server: XmppServer,
        observer: XmppClient, daemon: RunningDaemon) -> None:
    owner = make_user("owner")
    room_id = new_room()
    await create(api, room_id, owner.user)
    reconnects = daemon.daemon.link.reconnects
    path, body, expected = refused(room_id, xmpp_server.host)[case]
    if isinstance(body, dict):
        body = {k: v.replace("{owner}", owner.user).replace("{muc}", xmpp_server.muc_domain)
                if isinstance(v, str) else v for k, v in body.items()}
    status, reply = await api(path, body)
    assert (status, reply["ret"]) == (expected, False), reply
    assert reply["errmsg"]
    assert reply["errcode"] >= 1000
    assert await server_affiliations(observer, f"{room_id}@{xmpp_server.muc_domain}") == {
        owner.jid: "owner"}
    await asyncio.sleep(0)
    assert daemon.daemon.link.reconnects == reconnects
