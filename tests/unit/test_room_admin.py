"""Room management and the resync over a fake MUC service and real SQLite."""

from __future__ import annotations

import asyncio

import pytest
from lxml import etree

from component.errors import LinkDown, NotFound
from component.jid import Jid
from component.rooms.model import OptionChange, RoomSnapshot
from component.rooms.requests import ChangeOptions, CreateRoom, MemberChange, ProfileUpdate
from component.store.db import Database
from tests.unit.fake_muc import room_jid
from tests.unit.fakes import COMPONENT
from tests.unit.polling import eventually
from tests.unit.room_stack import Stack, room_stack, users

ROOM = room_jid("team")
ALICE, BOB, CAROL, DAVE = users("alice", "bob", "carol", "dave")


@pytest.fixture
def stack(db: Database) -> Stack:
    return room_stack(db)


async def group(stack: Stack, room: Jid = ROOM, owner: Jid = ALICE, *members: Jid) -> None:
    await stack.rooms.create(CreateRoom(room, owner, name="Team"))
    if members:
        await stack.rooms.add_members(MemberChange(room, owner, members))


async def test_change_options_and_owner(stack: Stack) -> None:
    await group(stack, ROOM, ALICE, BOB)
    room = await stack.admin.change_options(ChangeOptions(
        ROOM, OptionChange(name="Renamed", public=True, max_users=20000), new_owner=CAROL))
    assert (room.options.name, room.options.public, room.options.max_users) == (
        "Renamed", True, 10000)  # what the server made of it, not what was asked
    assert room.profile.version == 2
    assert stack.muc.rooms[ROOM].affiliations == {CAROL: "owner", ALICE: "member",
                                                  BOB: "member"}
    assert CAROL in stack.muc.rooms[ROOM].nicks  # the new owner is subscribed too
    room = await stack.admin.change_options(ChangeOptions(ROOM, OptionChange(public=False)))
    assert (room.options.public, room.profile.version) == (False, 2)
    with pytest.raises(NotFound):
        await stack.admin.change_options(ChangeOptions(room_jid("nope"), OptionChange()))


async def test_admin_remove_hands_over_to_the_first_member(stack: Stack) -> None:
    await group(stack, ROOM, ALICE, CAROL)
    stack.clock.now += 1
    await stack.rooms.add_members(MemberChange(ROOM, ALICE, (BOB,)))
    removal = await stack.admin.admin_remove(ROOM, ALICE)
    assert removal.new_owner == CAROL
    assert stack.muc.rooms[ROOM].affiliations == {CAROL: "owner", BOB: "member"}
    removal = await stack.admin.admin_remove(ROOM, BOB)
    assert removal.new_owner is None
    with pytest.raises(NotFound, match="not a member"):
        await stack.admin.admin_remove(ROOM, DAVE)


async def test_clear_staff_also_in_rooms_made_elsewhere(stack: Stack) -> None:
    first, second, outside = room_jid("r1"), room_jid("r2"), room_jid("by-a-client")
    await group(stack, first, ALICE, DAVE)
    await group(stack, second, DAVE, BOB, CAROL)
    stack.muc.add_room(outside, CAROL, DAVE)  # unknown to the store until clear_staff
    outcomes = await stack.admin.clear_staff([DAVE, Jid("nobody", DAVE.domain)])
    assert [o.user for o in outcomes] == [DAVE, Jid("nobody", DAVE.domain)]
    removed = {r.room: r.new_owner for r in outcomes[0].removed}
    assert removed == {first: None, second: BOB, outside: None}
    assert (outcomes[1].removed, outcomes[1].failed) == ((), ())
    for room in (first, second, outside):
        assert DAVE not in stack.muc.rooms[room].affiliations
    assert stack.muc.rooms[second].affiliations == {BOB: "owner", CAROL: "member"}
    assert await stack.store.rooms_of(DAVE) == []


async def test_notice_bumps_the_version_and_goes_through_the_room(stack: Stack) -> None:
    await group(stack)
    room = await stack.admin.notify_profile(ProfileUpdate(ROOM, picture="/p.png",
                                                          description="new"))
    assert (room.profile.version, room.options.description) == (2, "new")
    assert stack.muc.rooms[ROOM].options.description == "new"
    notice = etree.fromstring(stack.sink.sent[-1].data)
    assert (notice.get("from"), notice.get("to"), notice.get("type")) == (
        COMPONENT, str(ROOM), "groupchat")
    card = notice.find("{http://jabber.org/protocol/muc#vcard_update}vcard_updte")
    assert card is not None
    assert dict(card.attrib) == {"nick": "Team", "desc": "new", "title": "", "pic": "/p.png",
                                 "version": "2"}
    room = await stack.admin.notify_profile(ProfileUpdate(ROOM))
    assert room.profile.version == 2  # nothing changed: the same card is pushed again


async def test_resync_rebuilds_and_keeps_join_times(stack: Stack) -> None:
    await group(stack, ROOM, ALICE, BOB)
    before = await stack.store.get(ROOM)
    gone, outside = room_jid("gone"), room_jid("outside")
    await group(stack, gone)
    del stack.muc.rooms[gone]
    stack.muc.add_room(outside, CAROL)
    stack.muc.rooms[ROOM].affiliations[DAVE] = "member"
    stack.clock.now += 5
    report = await stack.admin.resync()
    assert (report.rooms, report.synced, report.removed, report.failed) == (2, 2, 1, 0)
    after = await stack.store.get(ROOM)
    assert before is not None
    assert after is not None
    assert [(m.jid, m.since) for m in after.members] == [
        *((m.jid, m.since) for m in before.members), (DAVE, stack.clock.now)]
    assert await stack.store.get(gone) is None
    assert await stack.store.rooms_of(CAROL) == [outside]


async def test_resync_in_the_background_coalesces_and_survives_a_drop(stack: Stack) -> None:
    await group(stack)
    stack.resync.trigger()
    stack.resync.trigger()  # while one runs: one more after it, not two at once
    await stack.resync.wait()
    assert stack.muc.ops("list") == ["", ""]
    stack.muc.fail["list"] = LinkDown("the link dropped")
    stack.resync.trigger()
    await stack.resync.wait()  # logged, not raised; the next link-up triggers again
    assert stack.resync.last is not None
    await stack.resync.close()


async def test_resync_never_blocks_a_request_for_long(stack: Stack) -> None:
    for index in range(30):
        await group(stack, room_jid(f"r{index}"))
    answer = {room_jid(f"r{index}"): asyncio.Event() for index in range(30)}
    asked: list[Jid] = []
    read_now = stack.muc.read

    async def read(room: Jid) -> RoomSnapshot:
        asked.append(room)
        await answer[room].wait()
        return await read_now(room)

    stack.muc.read = read  # type: ignore[method-assign]  # a server that answers when told
    stack.resync.trigger()
    await eventually(lambda: len(asked) == 8)  # 8 rooms at once, each under its lock
    assert room_jid("r29") not in asked
    await asyncio.wait_for(stack.rooms.add_members(MemberChange(room_jid("r29"), ALICE, (BOB,))),
                           5)  # not held up by the resync of the other rooms
    request = asyncio.create_task(stack.rooms.add_members(
        MemberChange(room_jid("r0"), ALICE, (BOB,))))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not request.done()  # r0 is being read: its request waits for that read,
    answer[room_jid("r0")].set()
    await asyncio.wait_for(request, 5)  # and for no other room's (the 7 others still wait)
    for event in answer.values():
        event.set()
    await stack.resync.wait()
    assert stack.resync.last is not None
    assert stack.resync.last.synced == 30
