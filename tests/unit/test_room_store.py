"""The room store and the vCard cache on a real SQLite file."""

from __future__ import annotations

import asyncio

from component.jid import Jid
from component.rooms.model import Member, Profile, RoomOptions, RoomSnapshot
from component.store.db import Database
from component.store.rooms import SqliteRoomStore
from component.store.vcards import VcardCache, VcardEntry
from tests.unit.fake_muc import room_jid
from tests.unit.fakes import HOST
from tests.unit.room_stack import Clock

ROOM = room_jid("team")
ALICE, BOB, CAROL = (Jid(n, HOST) for n in ("alice", "bob", "carol"))


def snapshot(*affiliations: tuple[Jid, str], **options: object) -> RoomSnapshot:
    return RoomSnapshot(RoomOptions(**options), tuple(affiliations),  # type: ignore[arg-type]
                        {jid: jid.local.title() for jid, _ in affiliations})


async def test_snapshot_round_trip_keeps_since_and_profile(db: Database) -> None:
    clock = Clock()
    store = SqliteRoomStore(db, clock)
    await store.save_snapshot(ROOM, snapshot((ALICE, "owner"), (BOB, "member"), name="Team",
                                             max_users=50), created_here=True)
    await store.put_profile(ROOM, Profile(title="t", picture="/p.png", version=4))
    clock.now = 2000.0
    await store.save_snapshot(ROOM, snapshot((ALICE, "member"), (CAROL, "owner"),
                                             name="Renamed"))
    room = await store.get(ROOM)
    assert room is not None
    assert [(m.jid, m.affiliation, m.nick, m.since) for m in room.members] == [
        (ALICE, "member", "Alice", 1000.0), (CAROL, "owner", "Carol", 2000.0)]
    assert (room.options.name, room.options.max_users, room.synced_at) == ("Renamed", None,
                                                                           2000.0)
    assert room.profile == Profile(title="t", picture="/p.png", version=4)
    assert room.created_here is True
    assert [m.jid for m in room.owners()] == [CAROL]


async def test_reverse_index_members_and_delete(db: Database) -> None:
    store = SqliteRoomStore(db, Clock())
    other = room_jid("other")
    await store.save_snapshot(ROOM, snapshot((ALICE, "owner")))
    await store.save_snapshot(other, snapshot((BOB, "owner")))
    await store.put_members(other, [Member(ALICE, "member", "Al", 5.0)])
    assert await store.rooms_of(ALICE) == [other, ROOM]
    await store.put_members(other, [Member(ALICE, "admin", "Al2", 9.0)])
    found = await store.get(other)
    assert found is not None
    assert found.member(ALICE) == Member(ALICE, "admin", "Al2", 5.0)  # since kept
    await store.set_affiliation(other, ALICE, "owner")
    await store.remove_members(other, [BOB])
    found = await store.get(other)
    assert found is not None
    assert [(m.jid, m.affiliation) for m in found.members] == [(ALICE, "owner")]
    await store.delete(ROOM)
    assert await store.get(ROOM) is None
    assert await store.rooms_of(ALICE) == [other]  # the affiliations went with the room
    assert set(await store.synced_at()) == {other}


async def test_options_update_keeps_the_title(db: Database) -> None:
    store = SqliteRoomStore(db, Clock())
    await store.save_snapshot(ROOM, snapshot((ALICE, "owner")))
    await store.put_profile(ROOM, Profile(title="Notice", version=2))
    await store.put_options(ROOM, RoomOptions(name="N", public=True, max_users=9))
    room = await store.get(ROOM)
    assert room is not None
    assert (room.options.name, room.options.public, room.options.max_users) == ("N", True, 9)
    assert room.profile.title == "Notice"


async def test_vcard_cache_answers_fresh_entries_only(db: Database) -> None:
    clock = Clock()
    cache = VcardCache(db, fresh_for=60, clock=clock)
    await cache.put_many([VcardEntry(ALICE, True, "Al", photo_data=b"\x89PNG"),
                          VcardEntry(BOB, False)])
    assert await cache.get(Jid("alice", HOST, "phone")) == VcardEntry(
        ALICE, True, "Al", photo_data=b"\x89PNG", fetched_at=1000.0)
    assert set(await cache.get_many([ALICE, BOB, CAROL])) == {ALICE, BOB}
    clock.now += 61
    assert await cache.get(ALICE) is None
    await cache.put(VcardEntry(ALICE, True, "New"))
    entry = await cache.get(ALICE)
    assert entry is not None
    assert (entry.nick, entry.fetched_at) == ("New", 1061.0)


async def test_rooms_in_memory_follow_every_write(db: Database) -> None:
    store = SqliteRoomStore(db, Clock(), cached_rooms=2)
    await store.save_snapshot(ROOM, snapshot((ALICE, "owner")))
    first = await store.get(ROOM)
    assert first is not None
    assert await store.get(ROOM) is first  # from memory
    await store.put_members(ROOM, [Member(BOB, "member", "Bob", 2000.0)])
    again = await store.get(ROOM)
    assert again is not None
    assert [m.jid for m in again.members] == [ALICE, BOB]
    reading = asyncio.create_task(store.get(ROOM))  # overlapped by a write: not remembered
    await asyncio.sleep(0)
    await store.set_affiliation(ROOM, BOB, "admin")
    await reading
    latest = await store.get(ROOM)
    assert latest is not None
    assert latest.member(BOB).affiliation == "admin"  # type: ignore[union-attr]
    for name in ("a", "b", "c"):
        await store.save_snapshot(room_jid(name), snapshot((ALICE, "owner")))
        await store.get(room_jid(name))
    assert len(store._cache) == 2
    await store.delete(ROOM)
    assert await store.get(ROOM) is None
