"""The store is rebuilt from the server: a daemon started on an empty store learns every room
(more than one disco#items page, one made by a plain client), and resyncs after a reconnect.

The module has its own ejabberd (`private_ejabberd`): two daemons on one component domain
would share its traffic (ejabberd spreads it over all the domain's connections, §3h).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from component.app import Daemon
from component.jid import Jid
from component.services.room_model import ResyncReport
from component.store.rooms import SqliteRoomStore
from devenv.ejabberd import EjabberdServer
from tests.integration.conftest import daemon_config
from tests.integration.rooms_helpers import client_room, server_affiliations
from tests.integration.xmpp_client import XmppClient

ROOMS = 130  # more than ejabberd's 100-item disco#items page


async def started(ej: EjabberdServer, store: Path) -> Daemon:
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


async def test_an_empty_store_is_rebuilt_by_resync(private_ejabberd: EjabberdServer,
                                                   tmp_path: Path) -> None:
    ej = private_ejabberd
    for name in ("alice", "bob", "carol"):
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
    try:
        report = await resynced(second)
        assert (report.rooms, report.synced, report.failed) == (ROOMS + 1, ROOMS + 1, 0)
        print(f"\nresync of {report.rooms} rooms into an empty store: {report.seconds:.2f} s")
        store = SqliteRoomStore(second.db)
        assert len(await store.synced_at()) == ROOMS + 1
        bob = Jid("bob", ej.host)
        assert set(await store.rooms_of(bob)) == {Jid("room7", ej.muc_domain),
                                                  Jid.parse(made_by_client)}
        room7 = await store.get(Jid("room7", ej.muc_domain))
        assert room7 is not None
        assert {str(m.jid): m.affiliation for m in room7.members} == \
            await server_affiliations(ej, f"room7@{ej.muc_domain}")
        assert all(m.nick for m in room7.members)  # subscriptions were read too
        status, reply = await call(second, "muc_users", {"muc_id": "room7"})
        assert status == 200
        assert [u["U"] for u in reply["data"]] == ["alice", "bob", "carol"]

        last = second.resync.last
        await asyncio.to_thread(ej.restart)  # the link drops: state may be lost
        await asyncio.wait_for(second.link.up.wait(), 30)
        report = await resynced(second, after=last)
        assert report.rooms == ROOMS + 1
    finally:
        await second.stop()
