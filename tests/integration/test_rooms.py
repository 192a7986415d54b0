"""A group's whole life against a real server, watched by real clients and by the MUC service
admin's own view: create, invite, groupchat (with MucSub: online, offline and MAM; without it:
refused as NOT_SUPPORTED), muc_users, refusals, removal, destroy."""

from __future__ import annotations

from lxml import etree

from component.servers import Capabilities
from devenv.servers import XmppServer
from tests.integration.conftest import Account, Api, ClientFactory, RunningDaemon, UserFactory
from tests.integration.rooms_helpers import (
    MUCSUB_CONFIG,
    items_by_user,
    mucsub_item,
    new_room,
    room_exists,
    server_affiliations,
    server_subscribers,
    subscribed,
    wait_group_message,
    wait_invitation,
)
from tests.integration.xmpp_client import XmppClient, tag

MUC = "http://jabber.org/protocol/muc"
MUC_USER = "http://jabber.org/protocol/muc#user"


async def test_group_life_cycle(api: Api, make_user: UserFactory,
                                client_factory: ClientFactory, xmpp_server: XmppServer,
                                caps: Capabilities, observer: XmppClient,
                                daemon: RunningDaemon) -> None:
    alice, bob, carol, dave = (make_user(n) for n in ("alice", "bob", "carol", "dave"))
    xmpp_server.set_vcard(bob.user, "NICKNAME", "Bobby")
    clients = {who.jid: await client_factory(*who) for who in (alice, bob, carol)}
    room_id = new_room()
    room = f"{room_id}@{xmpp_server.muc_domain}"
    reconnects = daemon.daemon.link.reconnects

    status, reply = await api("create_muc", {
        "muc_id": room_id, "muc_domain": xmpp_server.muc_domain, "muc_name": "Team 群",
        "muc_desc": "where we talk", "muc_owner": alice.user})
    assert (status, reply["ret"]) == (200, True), reply
    assert reply["data"]["showname"] == "Team 群"
    assert reply["data"]["description"] == "where we talk"
    assert reply["data"]["owner"] == [{"user": alice.user, "host": xmpp_server.host}]
    assert await server_affiliations(observer, room) == {alice.jid: "owner"}
    assert await server_subscribers(observer, room, caps) == subscribed(caps, alice.jid)

    status, reply = await api("create_muc", {"muc_id": room_id, "muc_owner": bob.user})
    assert (status, reply["errcode"]) == (409, 1009), reply

    status, reply = await api("add_muc_user", {
        "muc_id": room_id, "muc_domain": xmpp_server.muc_domain, "muc_owner": alice.user,
        "muc_member": [bob.user, carol.jid, dave.user, bob.user]})
    assert status == 200, reply
    assert {u: i["status"] for u, i in items_by_user(reply).items()} == {
        bob.jid: "added", carol.jid: "added", dave.jid: "added"}
    for who in (bob, carol):
        invitation = await wait_invitation(clients[who.jid], room)
        assert invitation.get("from", "").startswith(alice.jid)
    assert await server_affiliations(observer, room) == {
        alice.jid: "owner", bob.jid: "member", carol.jid: "member", dave.jid: "member"}
    assert await server_subscribers(observer, room, caps) == subscribed(
        caps, alice.jid, bob.jid, carol.jid, dave.jid)

    status, reply = await api("add_muc_user", {"muc_id": room_id, "muc_owner": alice.user,
                                               "muc_member": [bob.user]})
    assert (status, reply["data"]["items"][0]["status"]) == (200, "already a member")

    if caps.mucsub:
        await _groupchat_reaches_every_member(api, room, clients, (alice, bob, carol, dave),
                                              client_factory)
    else:
        await _groupchat_as_a_member_is_refused(api, room, clients[alice.jid], bob, carol)

    status, reply = await api("muc_users", {"muc_id": room_id,
                                            "muc_domain": xmpp_server.muc_domain})
    assert status == 200
    assert reply["data"][0] == {"U": alice.user, "H": xmpp_server.host, "N": alice.user,
                                "A": "owner"}
    assert {(u["U"], u["N"]) for u in reply["data"][1:]} == {
        (bob.user, "Bobby"), (carol.user, carol.user), (dave.user, dave.user)}

    await _non_member_is_refused(api, make_user, room_id, xmpp_server)
    await _refusals_and_removal(api, room_id, room, alice, bob, carol, observer, caps)

    status, reply = await api("destroy_muc", {"muc_id": room_id, "muc_owner": alice.user,
                                              "host": xmpp_server.host})
    assert (status, reply["ret"]) == (200, True), reply
    assert not await room_exists(observer, room)
    # With MucSub every member is told (bob never joined); without, the occupants (alice).
    told = await clients[(bob if caps.mucsub else alice).jid].wait_for(
        lambda el: (p := mucsub_item(el, MUCSUB_CONFIG) if caps.mucsub else el) is not None
        and p.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}destroy") is not None)
    assert told.get("from", "").partition("/")[0] == room
    status, reply = await api("muc_users", {"muc_id": room_id})
    assert status == 404
    assert daemon.daemon.link.reconnects == reconnects


async def _groupchat_reaches_every_member(
        api: Api, room: str, clients: dict[str, XmppClient],
        users: tuple[Account, Account, Account, Account],
        client_factory: ClientFactory) -> None:
    """MucSub: a member's groupchat is injected as the member, and reaches members who
    never joined, online and offline alike; the room's MAM archives it."""
    alice, bob, carol, dave = users
    room_id, _, domain = room.partition("@")
    status, reply = await api("send_message", {
        "From": bob.user, "To": [{"User": room_id}], "Body": "hello group", "Type": "groupchat",
        "Host": bob.jid.partition("@")[2], "Domain": domain, "Msg_Type": "1"})
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


async def _groupchat_as_a_member_is_refused(api: Api, room: str, alice_client: XmppClient,
                                            bob: Account, carol: Account) -> None:
    """No MucSub: the server takes groupchat from occupants only, so a member's groupchat is
    refused with NOT_SUPPORTED before anything is sent. alice joins as an occupant: her own
    message's echo comes after anything the daemon could have sent before its answer."""
    room_id, _, domain = room.partition("@")
    alice_client.send(f"<presence to='{room}/alice'><x xmlns='{MUC}'/></presence>")
    await alice_client.wait_for(lambda el: el.get("from") == f"{room}/alice")
    status, reply = await api("send_message", {
        "From": bob.user, "To": [{"User": room_id}], "Body": "hello group", "Type": "groupchat",
        "Host": bob.jid.partition("@")[2], "Domain": domain, "Msg_Type": "1"})
    assert (status, reply["errcode"]) == (501, 1010), reply
    assert "MucSub" in reply["errmsg"]
    status, reply = await api("send_thirdmessage", {
        "from": carol.jid, "to": room,
        "message": "<message type='groupchat'><body>third to the room</body></message>"})
    assert (status, reply["errcode"]) == (501, 1010), reply
    alice_client.send(f"<message type='groupchat' to='{room}'><body>after</body></message>")
    await alice_client.wait_message(lambda m: m.findtext(tag("body")) == "after")
    assert [m.findtext(tag("body")) for m in alice_client.messages()
            if m.get("type") == "groupchat" and m.findtext(tag("body"))] == []


async def _non_member_is_refused(api: Api, make_user: UserFactory, room_id: str,
                                 xmpp_server: XmppServer) -> None:
    eve = make_user("eve")
    status, reply = await api("send_message", {
        "From": eve.user, "To": [{"User": room_id}], "Body": "let me in", "Type": "groupchat",
        "Host": xmpp_server.host, "Domain": xmpp_server.muc_domain})
    assert (status, reply["errcode"]) == (403, 1403), reply
    assert "User not in Room" in reply["errmsg"]
    status, reply = await api("send_thirdmessage", {
        "from": eve.jid, "to": f"{room_id}@{xmpp_server.muc_domain}",
        "message": "<message type='groupchat'><body>let me in</body></message>"})
    assert status == 403, reply


async def _refusals_and_removal(api: Api, room_id: str, room: str, alice: Account,
                                bob: Account, carol: Account, observer: XmppClient,
                                caps: Capabilities) -> None:
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
    assert carol.jid not in await server_affiliations(observer, room)
    assert carol.jid not in await server_subscribers(observer, room, caps)


async def _room_archive(client: XmppClient, room: str) -> set[str]:
    """Bodies of the room's MAM archive (XEP-0313), queried by a member's own client."""
    reply = await client.request(
        f"<iq type='set' id='mam-{room}' to='{room}'><query xmlns='urn:xmpp:mam:2' "
        "queryid='q'/></iq>")
    assert reply.get("type") == "result", etree.tostring(reply)
    # XEP-0313: the results come before the query's iq result, on the same stream, so they
    # have all been read by now; nothing to wait for.
    bodies = set()
    for message in client.messages():
        result = message.find("{urn:xmpp:mam:2}result")
        if result is not None:
            bodies.add(result.findtext(f".//{tag('body')}") or "")
    return bodies
