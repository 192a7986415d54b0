"""The room ad-hoc commands over the real room services, a fake MUC service and real SQLite."""

from __future__ import annotations

import pytest
from lxml import etree

from component.adhoc.rooms import RoomCommands
from component.rooms.requests import CreateRoom, MemberChange
from component.store.db import Database
from tests.unit.clock import ManualClock
from tests.unit.fake_muc import room_jid
from tests.unit.fakes import HOST, hosts
from tests.unit.room_stack import Stack, room_stack, users
from tests.unit.test_adhoc import ADMIN, USER, C, Harness, command_of, error_of, values

ROOM = room_jid("team")
ALICE, BOB, CAROL, DAVE = users("alice", "bob", "carol", "dave")


@pytest.fixture
def stack(db: Database) -> Stack:
    return room_stack(db)


@pytest.fixture
def harness(stack: Stack, clock: ManualClock) -> Harness:
    return Harness(RoomCommands(stack.rooms, stack.admin, hosts()).commands(), clock)


async def submit(harness: Harness, node: str, fields: dict[str, str],
                 action: str | None = None) -> etree._Element:
    """Start the command, then submit its first form."""
    first = command_of(await harness.run(ADMIN, node))
    assert first.get("status") == "executing"
    return await harness.run(ADMIN, node, session=first.get("sessionid"), fields=fields,
                             action=action)


def note(reply: etree._Element) -> str:
    return command_of(reply).findtext(f"{C}note") or ""


async def group(stack: Stack, *members: str) -> None:
    await stack.rooms.create(CreateRoom(ROOM, ALICE, name="Team"))
    if members:
        await stack.rooms.add_members(MemberChange(ROOM, ALICE, users(*members)))


async def test_create_room_with_members(harness: Harness, stack: Stack) -> None:
    first = command_of(await harness.run(ADMIN, "create-room"))
    assert {"room", "name", "owner", "members"} <= set(values(first))
    done = await harness.run(ADMIN, "create-room", session=first.get("sessionid"),
                             action="complete", fields={
                                 "room": "Team", "name": "The team", "owner": "alice",
                                 "members": f"bob, carol@{HOST}\nalice"})
    assert command_of(done).get("status") == "completed"
    assert note(done).splitlines() == [f"{ROOM} created, owned by {ALICE}",
                                       f"{BOB}: added", f"{CAROL}: added"]
    assert stack.muc.rooms[ROOM].affiliations == {ALICE: "owner", BOB: "member",
                                                  CAROL: "member"}
    assert stack.muc.rooms[ROOM].options.name == "The team"


async def test_create_room_canceled_half_way_leaves_nothing(harness: Harness,
                                                            stack: Stack) -> None:
    first = command_of(await harness.run(ADMIN, "create-room"))
    canceled = await harness.run(ADMIN, "create-room", session=first.get("sessionid"),
                                 action="cancel")
    assert command_of(canceled).get("status") == "canceled"
    assert stack.muc.calls == []
    assert await stack.store.get(ROOM) is None
    assert len(harness.registry.sessions) == 0


async def test_create_room_refusals(harness: Harness, stack: Stack) -> None:
    bad = await submit(harness, "create-room", {"room": "team", "owner": "a b"})
    assert error_of(bad) == "bad-request"
    await group(stack)
    taken = await submit(harness, "create-room", {"room": "team", "owner": "bob"})
    assert error_of(taken) == "conflict"
    for node in ("create-room", "resync", "clear-staff"):
        assert error_of(await harness.run(USER, node)) == "forbidden"


async def test_add_and_remove_members(harness: Harness, stack: Stack) -> None:
    await group(stack, "bob")
    added = await submit(harness, "add-members", {"room": str(ROOM), "members": "bob carol"})
    assert note(added).splitlines() == [f"{BOB}: already a member", f"{CAROL}: added"]
    invitation = etree.fromstring(stack.sink.sent[-1].data)
    assert invitation.get("from") == str(ALICE)  # the owner invites, not the admin
    removed = await submit(harness, "remove-members", {"room": "team",
                                                       "members": "alice,dave"})
    assert note(removed).splitlines() == [
        f"{ALICE}: removed; {BOB} is the owner now",
        f"{DAVE}: not removed ({DAVE} is not a member of {ROOM})"]
    assert stack.muc.rooms[ROOM].affiliations == {BOB: "owner", CAROL: "member"}
    missing = await submit(harness, "add-members", {"room": "nope", "members": "bob"})
    assert error_of(missing) == "item-not-found"


async def test_destroy_room(harness: Harness, stack: Stack) -> None:
    await group(stack)
    done = await submit(harness, "destroy-room", {"room": "team", "reason": "done"})
    assert note(done) == f"{ROOM} destroyed"
    assert ROOM not in stack.muc.rooms


async def test_room_options_show_then_change(harness: Harness, stack: Stack) -> None:
    await group(stack, "bob")
    shown = command_of(await submit(harness, "room-options", {"room": "team"}))
    assert shown.get("status") == "executing"
    form = values(shown)
    assert (form["name"], form["public"], form["owner"]) == ("Team", "0", str(ALICE))
    session = shown.get("sessionid")
    unchanged = await harness.run(ADMIN, "room-options", session=session, fields=form)
    assert note(unchanged) == "nothing to change"
    assert stack.muc.ops("configure") == []
    shown = command_of(await submit(harness, "room-options", {"room": "team"}))
    changed = await harness.run(ADMIN, "room-options", session=shown.get("sessionid"),
                                fields=form | {"name": "Renamed", "public": "1",
                                               "owner": "bob"})
    result = values(command_of(changed))
    assert (result["name"], result["public"], result["owner"]) == ("Renamed", "1", str(BOB))
    assert stack.muc.rooms[ROOM].affiliations == {BOB: "owner", ALICE: "member"}
    shown = command_of(await submit(harness, "room-options", {"room": "team"}))
    for number in ("-3", "\u00b2", "\u2460"):
        shown = command_of(await submit(harness, "room-options", {"room": "team"}))
        bad = await harness.run(ADMIN, "room-options", session=shown.get("sessionid"),
                                fields={"max_users": number})
        assert error_of(bad) == "bad-request"


async def test_clear_staff_and_resync(harness: Harness, stack: Stack) -> None:
    await group(stack, "dave")
    cleared = await submit(harness, "clear-staff", {"users": "dave bob"})
    assert note(cleared).splitlines() == [f"{DAVE}: left {ROOM}", f"{BOB}: left no room"]
    assert DAVE not in stack.muc.rooms[ROOM].affiliations
    report = command_of(await harness.run(ADMIN, "resync"))
    assert report.get("status") == "completed"
    assert values(report)["rooms"] == "1"
