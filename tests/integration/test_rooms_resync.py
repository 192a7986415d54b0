"""The store is rebuilt from the server: a daemon started on an empty store learns every room
the server lists (more than one disco#items page, one made by a plain client), reads a room it
does not know on demand, and resyncs after a reconnect. Prosody lists no hidden room, even to
its admin: there the store is the registry of rooms, and an empty one learns only by reading.

The module has its own server (`private_server`): two daemons on one component domain would
share its traffic (ejabberd spreads it over all the domain's connections, Prosody refuses the
second one, §3h).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from component.app import Daemon
from component.jid import Jid
from component.rooms.requests import ResyncReport
from component.store.rooms import SqliteRoomStore
from devenv.servers import OBSERVER, XmppServer
from tests.integration.conftest import capabilities, daemon_config
from tests.integration.rooms_helpers import client_room, server_affiliations
from tests.integration.xmpp_client import XmppClient

ROOMS = 130  # more than ejabberd's 100-item disco#items page


async def started(ej: XmppServer, store: Path) -> Daemon:
    daemon = await Daemon.open(daemon_config(ej, store))
    await daemon.start()
    await asyncio.wait_for(daemon.link.up.wait(), 30)
    return daemon


async def resynced(daemon: Daemon, after: ResyncReport | None = None) -> ResyncReport:
    """The report of the first background resync that ends after `after`."""
    for _ in range(300):
        await daemon.resync.wait()
        if daemon.resync.last is not None and daemon.resync.last is not after:
            return daemon.resync.last
        await asyncio.sleep(0.05)
    raise TimeoutError("no resync")


async def call(daemon: Daemon, path: str, body: object) -> tuple[int, Any]:
    url = f"http://127.0.0.1:{daemon.config.http.port}/qtalk/{path}"
    async with aiohttp.ClientSession() as session, \
            session.post(url, data=orjson.dumps(body)) as response:
        return response.status, orjson.loads(await response.read())


async def test_an_empty_store_is_rebuilt_by_resync(private_server: XmppServer,
                                                   tmp_path: Path) -> None:
    ej, caps = private_server, capabilities(private_server)
    for name in ("alice", "bob", "carol", OBSERVER):
        ej.register(name, f"pw-{name}")
    first = await started(ej, tmp_path / "first.db")
    try:
        for n in range(ROOMS):
            status, reply = await call(first, "create_muc", {"muc_id": f"room{n}",
                                                             "muc_owner": "alice"})
            assert status == 200, reply
        status, reply = await call(first, "add_muc_user", {
            "muc_id": "room7", "muc_owner": "alice", "muc_member": ["bob", "carol"]})
        assert status == 200, reply
        store = SqliteRoomStore(first.db)
        before = await store.get(Jid("room7", ej.muc_domain))
        report = await first.room_admin.resync()  # on demand: the join times survive it
        assert (report.rooms, report.failed) == (ROOMS, 0)
        after = await store.get(Jid("room7", ej.muc_domain))
        assert before is not None
        assert after is not None
        assert [(m.jid, m.since) for m in after.members] == [
            (m.jid, m.since) for m in before.members]
    finally:
        await first.stop()
    carol = await XmppClient.connect(ej.c2s_port, f"carol@{ej.host}", "pw-carol")
    made_by_client = f"clientmade@{ej.muc_domain}"
    await client_room(carol, made_by_client, "carol", f"bob@{ej.host}")
    await carol.close()

    second = await started(ej, tmp_path / "second.db")  # nothing in its store
    observer = await XmppClient.connect(ej.c2s_port, f"{OBSERVER}@{ej.host}",
                                        f"pw-{OBSERVER}")
    try:
        listed = ROOMS + 1 if caps.lists_hidden_rooms else 0  # all are hidden rooms
        report = await resynced(second)
        assert (report.rooms, report.synced, report.failed) == (listed, listed, 0)
        print(f"\nresync of {report.rooms} rooms into an empty store: {report.seconds:.2f} s")
        store = SqliteRoomStore(second.db)
        assert len(await store.synced_at()) == listed
        status, reply = await call(second, "muc_users", {"muc_id": "room7"})  # known or not
        assert status == 200
        assert [u["U"] for u in reply["data"]] == ["alice", "bob", "carol"]
        bob = Jid("bob", ej.host)
        assert set(await store.rooms_of(bob)) == {Jid("room7", ej.muc_domain)} | (
            {Jid.parse(made_by_client)} if caps.lists_hidden_rooms else set())
        room7 = await store.get(Jid("room7", ej.muc_domain))
        assert room7 is not None
        assert {str(m.jid): m.affiliation for m in room7.members} == \
            await server_affiliations(observer, f"room7@{ej.muc_domain}")
        # The subscriptions were read too (MucSub); without it members have no room nick.
        assert all(m.nick for m in room7.members) is caps.mucsub

        last = second.resync.last
        await asyncio.to_thread(ej.restart)  # the link drops: state may be lost
        await asyncio.wait_for(second.link.up.wait(), 30)
        report = await resynced(second, after=last)
        assert report.rooms == (ROOMS + 1 if caps.lists_hidden_rooms else 1)  # the store's
    finally:
        await observer.close()
        await second.stop()
