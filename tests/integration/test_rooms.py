"""A group's whole life against a real ejabberd, watched by real clients and the server's
own admin API: create, invite, groupchat (online, offline via MucSub and MAM), muc_users,
refusals, removal, destroy."""

from __future__ import annotations

import asyncio

from lxml import etree

from devenv.ejabberd import EjabberdServer
from tests.integration.conftest import Account, Api, ClientFactory, RunningDaemon, UserFactory
from tests.integration.rooms_helpers import (
    MUCSUB_CONFIG,
    items_by_user,
    mucsub_item,
    new_room,
    server_affiliations,
    server_rooms,
    server_subscribers,
    wait_group_message,
    wait_invitation,
)
from tests.integration.xmpp_client import XmppClient, tag

MUC_USER = "http://jabber.org/protocol/muc#user"


async def test_group_life_cycle(api: Api, make_user: UserFactory,
                                client_factory: ClientFactory, ejabberd: EjabberdServer,
                                daemon: RunningDaemon) -> None:
    alice, bob, carol, dave = (make_user(n) for n in ("alice", "bob", "carol", "dave"))
    ejabberd.set_vcard(bob.user, "NICKNAME", "Bobby")
    clients = {who.jid: await client_factory(*who) for who in (alice, bob, carol)}
    room_id = new_room()
    room = f"{room_id}@{ejabberd.muc_domain}"
    reconnects = daemon.daemon.link.reconnects

    status, reply = await api("create_muc", {
        "muc_id": room_id, "muc_domain": ejabberd.muc_domain, "muc_name": "Team 群",
        "muc_desc": "where we talk", "muc_owner": alice.user})
    assert (status, reply["ret"]) == (200, True), reply
    assert reply["data"]["showname"] == "Team 群"
    assert reply["data"]["description"] == "where we talk"
    assert reply["data"]["owner"] == [{"user": alice.user, "host": ejabberd.host}]
    assert await server_affiliations(ejabberd, room) == {alice.jid: "owner"}
    assert await server_subscribers(ejabberd, room) == {alice.jid}

    status, reply = await api("create_muc", {"muc_id": room_id, "muc_owner": bob.user})
    assert (status, reply["errcode"]) == (409, 1009), reply

    status, reply = await api("add_muc_user", {
        "muc_id": room_id, "muc_domain": ejabberd.muc_domain, "muc_owner": alice.user,
        "muc_member": [bob.user, carol.jid, dave.user, bob.user]})
    assert status == 200, reply
    assert {u: i["status"] for u, i in items_by_user(reply).items()} == {
        bob.jid: "added", carol.jid: "added", dave.jid: "added"}
    for who in (bob, carol):
        invitation = await wait_invitation(clients[who.jid], room)
        assert invitation.get("from", "").startswith(alice.jid)
    assert await server_affiliations(ejabberd, room) == {
        alice.jid: "owner", bob.jid: "member", carol.jid: "member", dave.jid: "member"}
    assert await server_subscribers(ejabberd, room) == {alice.jid, bob.jid, carol.jid,
                                                        dave.jid}

    status, reply = await api("add_muc_user", {"muc_id": room_id, "muc_owner": alice.user,
                                               "muc_member": [bob.user]})
    assert (status, reply["data"]["items"][0]["status"]) == (200, "already a member")

    status, reply = await api("send_message", {
        "From": bob.user, "To": [{"User": room_id}], "Body": "hello group", "Type": "groupchat",
        "Host": ejabberd.host, "Domain": ejabberd.muc_domain, "Msg_Type": "1"})
    assert (status, reply["ret"]) == (200, True), reply
    for who in (alice, carol):
        got = await wait_group_message(clients[who.jid], "hello group")
        assert got.get("from") == f"{room}/Bobby"
        assert got.find("{urn:qtalk:message}qtalk").get("msgType") == "1"  # type: ignore[union-attr]

    status, reply = await api("send_thirdmessage", {
        "from": carol.jid, "to": room,
        "message": "<message type='groupchat'><body>third to the room</body></message>"})
    assert status == 200, reply
    await wait_group_message(clients[alice.jid], "third to the room")

    # dave was offline: MucSub events wait in offline storage, and the room's MAM has them.
    dave_client = await client_factory(*dave)
    await wait_group_message(dave_client, "hello group")
    await wait_group_message(dave_client, "third to the room")
    assert await _room_archive(dave_client, room) >= {"hello group", "third to the room"}

    status, reply = await api("muc_users", {"muc_id": room_id,
                                            "muc_domain": ejabberd.muc_domain})
    assert status == 200
    assert reply["data"][0] == {"U": alice.user, "H": ejabberd.host, "N": alice.user,
                                "A": "owner"}
    assert {(u["U"], u["N"]) for u in reply["data"][1:]} == {
        (bob.user, "Bobby"), (carol.user, carol.user), (dave.user, dave.user)}

    await _non_member_is_refused(api, make_user, room_id, ejabberd)
    await _refusals_and_removal(api, room_id, room, alice, bob, carol, ejabberd)

    status, reply = await api("destroy_muc", {"muc_id": room_id, "muc_owner": alice.user,
                                              "host": ejabberd.host})
    assert (status, reply["ret"]) == (200, True), reply
    assert room not in await server_rooms(ejabberd)
    told = await clients[bob.jid].wait_message(
        lambda m: (p := mucsub_item(m, MUCSUB_CONFIG)) is not None
        and p.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}destroy") is not None)
    assert told.get("from") == room
    status, reply = await api("muc_users", {"muc_id": room_id})
    assert status == 404
    assert daemon.daemon.link.reconnects == reconnects


async def _non_member_is_refused(api: Api, make_user: UserFactory, room_id: str,
                                 ejabberd: EjabberdServer) -> None:
    eve = make_user("eve")
    status, reply = await api("send_message", {
        "From": eve.user, "To": [{"User": room_id}], "Body": "let me in", "Type": "groupchat",
        "Host": ejabberd.host, "Domain": ejabberd.muc_domain})
    assert (status, reply["errcode"]) == (403, 1403), reply
    assert "User not in Room" in reply["errmsg"]
    status, reply = await api("send_thirdmessage", {
        "from": eve.jid, "to": f"{room_id}@{ejabberd.muc_domain}",
        "message": "<message type='groupchat'><body>let me in</body></message>"})
    assert status == 403, reply


async def _refusals_and_removal(api: Api, room_id: str, room: str, alice: Account,
                                bob: Account, carol: Account, ejabberd: EjabberdServer) -> None:
    alice_user, bob_user, carol_user = alice.user, bob.user, carol.user
    status, reply = await api("del_muc_user", {"muc_id": room_id, "muc_owner": bob_user,
                                               "muc_member": [carol_user]})
    assert (status, reply["errcode"]) == (403, 1403), reply
    status, reply = await api("destroy_muc", {"muc_id": room_id, "muc_owner": bob_user})
    assert status == 403, reply
    status, reply = await api("add_muc_user", {"muc_id": room_id, "muc_owner": "nobody",
                                               "muc_member": [carol_user]})
    assert status == 403, reply
    status, reply = await api("del_muc_user", {"muc_id": room_id, "muc_owner": alice_user,
                                               "muc_member": [carol_user, "stranger"]})
    assert status == 200, reply
    assert [i["status"] for i in reply["data"]["items"]] == ["removed", "not a member"]
    assert carol.jid not in await server_affiliations(ejabberd, room)
    assert carol.jid not in await server_subscribers(ejabberd, room)


async def _room_archive(client: XmppClient, room: str) -> set[str]:
    """Bodies of the room's MAM archive (XEP-0313), queried by a member's own client."""
    reply = await client.request(
        f"<iq type='set' id='mam-{room}' to='{room}'><query xmlns='urn:xmpp:mam:2' "
        "queryid='q'/></iq>")
    assert reply.get("type") == "result", etree.tostring(reply)
    await asyncio.sleep(0.1)
    bodies = set()
    for message in client.messages():
        result = message.find("{urn:xmpp:mam:2}result")
        if result is not None:
            bodies.add(result.findtext(f".//{tag('body')}") or "")
    return bodies
