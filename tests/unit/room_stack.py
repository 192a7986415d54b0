"""The room services as app.py wires them, over FakeMuc, a RecordingSink and real SQLite."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from component.jid import Jid
from component.services.nicks import NickDirectory
from component.services.room_admin import RoomAdmin
from component.services.room_directory import RoomDirectory
from component.services.room_resync import RoomResync
from component.services.room_service import RoomService
from component.store.db import Database
from component.store.rooms import SqliteRoomStore
from component.store.vcards import VcardCache
from tests.unit.fake_muc import FakeMuc, ScriptedIq
from tests.unit.fakes import RecordingSink, hosts


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def vcard_reply(nicks: dict[str, str]) -> ScriptedIq:
    """An iq port answering vCard queries: NICKNAME from `nicks`, else an empty vCard."""
    def answer(iq: etree._Element) -> str:
        nick = nicks.get(iq.get("to", ""))
        inner = f"<NICKNAME>{nick}</NICKNAME>" if nick else ""
        return f"<iq type='result' id='{{id}}'><vCard xmlns='vcard-temp'>{inner}</vCard></iq>"

    port = ScriptedIq()
    port.replies = [answer] * 10_000
    return port


@dataclass
class Stack:
    muc: FakeMuc
    sink: RecordingSink
    store: SqliteRoomStore
    directory: RoomDirectory
    rooms: RoomService
    admin: RoomAdmin
    resync: RoomResync
    clock: Clock
    vcards: ScriptedIq


def room_stack(db: Database, nicks: dict[str, str] | None = None) -> Stack:
    clock = Clock()
    muc, sink = FakeMuc(), RecordingSink()
    store = SqliteRoomStore(db, clock)
    directory = RoomDirectory(muc, store, hosts(), fresh_for=60.0, clock=clock)
    port = vcard_reply(nicks or {})
    names = NickDirectory(port, VcardCache(db, clock=clock))
    resync = RoomResync(directory, muc)
    return Stack(muc, sink, store, directory, RoomService(directory, sink, names),
                 RoomAdmin(directory, resync, sink, names), resync, clock, port)


def users(*names: str) -> tuple[Jid, ...]:
    return tuple(Jid(name, "qtalk.test.org") for name in names)
