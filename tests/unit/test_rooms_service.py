"""The group life cycle service over a fake MUC service, a recording sink and real SQLite."""

from __future__ import annotations

import pytest
from lxml import etree

from component.errors import Conflict, DomainNotServed, Forbidden, NotFound, XmppError
from component.jid import Jid
from component.rooms.requests import CreateRoom, DestroyRoom, MemberChange
from component.store.db import Database
from tests.unit.fake_muc import room_jid
from tests.unit.room_stack import Stack, room_stack, users

ROOM = room_jid("team")
ALICE, BOB, CAROL, DAVE = users("alice", "bob", "carol", "dave")


@pytest.fixture
def stack(db: Database) -> Stack:
    return room_stack(db, {str(BOB): "Bobby"})


async def create(stack: Stack, *members: Jid) -> None:
    await stack.rooms.create(CreateRoom(ROOM, ALICE, name="Team", description="d"))
    if members:
        await stack.rooms.add_members(MemberChange(ROOM, ALICE, members))


async def test_create_makes_the_owner_owner_and_subscriber(stack: Stack) -> None:
    room = await stack.rooms.create(CreateRoom(ROOM, ALICE, name="Team", description="d"))
    assert [op for op, _ in stack.muc.calls] == [
        "exists", "create", "affiliations", "subscribe", "read"]
    assert stack.muc.rooms[ROOM].affiliations == {ALICE: "owner"}
    assert stack.muc.rooms[ROOM].nicks == {ALICE: "alice"}
    assert (room.options.name, room.options.description, room.created_here) == (
        "Team", "d", True)
    with pytest.raises(Conflict):
        await stack.rooms.create(CreateRoom(ROOM, BOB))
    assert stack.muc.ops("create") == [str(ROOM)]


@pytest.mark.parametrize(("room", "owner"), [
    (Jid("team", "conference.elsewhere.org"), ALICE), (ROOM, Jid("alice", "elsewhere.org"))])
async def test_create_refuses_foreign_domains(stack: Stack, room: Jid, owner: Jid) -> None:
    with pytest.raises(DomainNotServed):
        await stack.rooms.create(CreateRoom(room, owner))
    assert stack.muc.calls == []


async def test_a_half_created_room_is_removed_again(stack: Stack) -> None:
    stack.muc.fail["subscribe"] = XmppError("subscribe", condition="not-allowed")
    with pytest.raises(XmppError):
        await stack.rooms.create(CreateRoom(ROOM, ALICE))
    assert stack.muc.ops("destroy") == [str(ROOM)]
    assert ROOM not in stack.muc.rooms


async def test_add_members_reports_each_and_invites_the_new_ones(stack: Stack) -> None:
    await create(stack)
    stranger = Jid("eve", "elsewhere.org")
    outcomes = await stack.rooms.add_members(MemberChange(ROOM, ALICE, (BOB, ALICE, stranger,
                                                                        BOB, CAROL)))
    assert [(o.user, o.status) for o in outcomes] == [
        (BOB, "added"), (ALICE, "already a member"), (stranger, "refused"), (CAROL, "added")]
    assert isinstance(outcomes[2].error, DomainNotServed)
    assert stack.muc.rooms[ROOM].affiliations == {ALICE: "owner", BOB: "member",
                                                  CAROL: "member"}
    assert stack.muc.rooms[ROOM].nicks[BOB] == "Bobby"
    invites = [etree.fromstring(s.data) for s in stack.sink.sent]
    assert [(i.get("from"), i.get("to")) for i in invites] == [(str(ALICE), str(BOB)),
                                                               (str(ALICE), str(CAROL))]
    assert invites[0].find("{jabber:x:conference}x").get("jid") == str(ROOM)  # type: ignore[union-attr]
    room = await stack.rooms.room(ROOM)
    assert [m.jid for m in room.members] == [ALICE, BOB, CAROL]  # join order kept


async def test_add_members_refusals(stack: Stack) -> None:
    with pytest.raises(NotFound):
        await stack.rooms.add_members(MemberChange(ROOM, ALICE, (BOB,)))
    await create(stack)
    with pytest.raises(Forbidden, match="not a member"):
        await stack.rooms.add_members(MemberChange(ROOM, DAVE, (BOB,)))
    stack.muc.refuse_users.add(CAROL)
    outcomes = await stack.rooms.add_members(MemberChange(ROOM, ALICE, (BOB, CAROL)))
    assert [o.status for o in outcomes] == ["added", "refused"]
    assert isinstance(outcomes[1].error, XmppError)
    assert stack.muc.rooms[ROOM].affiliations == {ALICE: "owner", BOB: "member"}


async def test_a_member_who_cannot_be_subscribed_is_not_left_affiliated(stack: Stack) -> None:
    await create(stack)
    stack.muc.fail[f"subscribe {CAROL}"] = XmppError("subscribe", condition="not-allowed")
    outcomes = await stack.rooms.add_members(MemberChange(ROOM, ALICE, (BOB, CAROL)))
    assert [o.status for o in outcomes] == ["added", "refused"]
    assert CAROL not in stack.muc.rooms[ROOM].affiliations
    assert (await stack.rooms.room(ROOM)).member(CAROL) is None


async def test_a_full_room_refuses_the_excess(stack: Stack) -> None:
    await create(stack)
    stack.muc.rooms[ROOM].options = stack.muc.rooms[ROOM].options.__class__(max_users=3)
    await stack.directory.sync(ROOM)
    outcomes = await stack.rooms.add_members(MemberChange(ROOM, ALICE, (BOB, CAROL, DAVE)))
    assert [o.status for o in outcomes] == ["added", "added", "refused"]
    assert "full" in str(outcomes[2].error)


async def test_remove_members_owner_rules_and_hand_over(stack: Stack) -> None:
    await create(stack, BOB, CAROL)
    with pytest.raises(Forbidden, match="neither owner nor admin"):
        await stack.rooms.remove_members(MemberChange(ROOM, BOB, (CAROL,)))
    stack.muc.rooms[ROOM].affiliations[CAROL] = "admin"
    await stack.directory.sync(ROOM)
    outcomes = await stack.rooms.remove_members(MemberChange(ROOM, CAROL, (ALICE, DAVE)))
    assert [o.status for o in outcomes] == ["refused", "not a member"]
    outcomes = await stack.rooms.remove_members(MemberChange(ROOM, ALICE, (ALICE,)))
    assert (outcomes[0].status, outcomes[0].new_owner) == ("removed", BOB)
    assert stack.muc.rooms[ROOM].affiliations == {BOB: "owner", CAROL: "admin"}
    assert ALICE not in stack.muc.rooms[ROOM].nicks
    assert stack.muc.ops("affiliations")[-1] == f"{BOB}=owner,{ALICE}=none"
    room = await stack.rooms.room(ROOM)
    assert [(m.jid, m.affiliation) for m in room.members] == [(BOB, "owner"), (CAROL, "admin")]


async def test_destroy_is_for_owners_of_existing_rooms(stack: Stack) -> None:
    with pytest.raises(NotFound):
        await stack.rooms.destroy(DestroyRoom(ROOM, ALICE))
    assert stack.muc.ops("destroy") == []  # ejabberd would "destroy" a missing room happily
    await create(stack, BOB)
    with pytest.raises(Forbidden):
        await stack.rooms.destroy(DestroyRoom(ROOM, BOB))
    await stack.rooms.destroy(DestroyRoom(ROOM, ALICE, "bye"))
    assert ROOM not in stack.muc.rooms
    assert await stack.store.get(ROOM) is None


async def test_members_with_vcard_nicks(stack: Stack) -> None:
    await create(stack, CAROL, BOB)
    assert [(m.jid, m.affiliation, nick) for m, nick in await stack.rooms.members(ROOM)] == [
        (ALICE, "owner", "alice"), (CAROL, "member", "carol"), (BOB, "member", "Bobby")]


async def test_reads_come_from_the_store_while_fresh(stack: Stack) -> None:
    await create(stack, BOB)
    reads = len(stack.muc.ops("read"))
    await stack.rooms.members(ROOM)
    assert len(stack.muc.ops("read")) == reads
    stack.clock.now += 61
    await stack.rooms.members(ROOM)
    assert len(stack.muc.ops("read")) == reads + 1


async def test_group_sender(stack: Stack) -> None:
    with pytest.raises(NotFound):
        await stack.rooms.group_sender(ROOM, BOB)
    await create(stack, BOB)
    assert await stack.rooms.group_sender(ROOM, Jid("bob", BOB.domain, "phone")) == BOB
    reads = len(stack.muc.ops("read"))
    with pytest.raises(Forbidden, match="User not in Room"):
        await stack.rooms.group_sender(ROOM, DAVE)
    assert len(stack.muc.ops("read")) == reads + 1  # asked the server before refusing


async def test_group_sender_subscribes_a_member_of_a_room_made_elsewhere(stack: Stack) -> None:
    other = room_jid("made-by-a-client")
    stack.muc.add_room(other, CAROL, BOB, nick=False)
    assert await stack.rooms.group_sender(other, BOB) == BOB
    assert stack.muc.rooms[other].nicks == {BOB: "Bobby"}
    room = await stack.rooms.room(other)
    assert room.member(BOB).nick == "Bobby"  # type: ignore[union-attr]


async def test_names_are_taken_as_the_server_keeps_them(stack: Stack) -> None:
    # A Jid is made by parsing, which prepares it as the server does (nodeprep).
    await stack.rooms.create(CreateRoom(Jid.parse(f"Team@{ROOM.domain}"),
                                        Jid.parse(f"Alice@{ALICE.domain}")))
    outcomes = await stack.rooms.add_members(MemberChange(
        ROOM, ALICE, (Jid.parse(f"BOB@{BOB.domain}"), BOB)))
    assert [(o.user, o.status) for o in outcomes] == [(BOB, "added")]
    assert stack.muc.rooms[ROOM].affiliations == {ALICE: "owner", BOB: "member"}
