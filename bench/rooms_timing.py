"""`python -m bench.rooms_timing`: how long a group takes to set up, and a resync to run.

An isolated ejabberd on loopback and the daemon in this process. Measured over HTTP, as an
integrator sees it: create_muc, then add_muc_user with `--members` users in one call (each is
affiliated, vCard-looked-up, MucSub-subscribed and invited). Then `--rooms` groups (owner plus
`--per-room` members) are set up and the full resync is timed twice: on demand over a warm
store, and cold, by a second daemon started on an empty store.

    python -m bench.rooms_timing                      # 100 members, 1,000 rooms
    python -m bench.rooms_timing --rooms 200 --repeat 1
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from component.app import Daemon
from devenv.ejabberd import EjabberdServer
from tests.integration.conftest import daemon_config

CONCURRENCY = 16


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.rooms_timing",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--rooms", type=int, default=1000)
    parser.add_argument("--per-room", type=int, default=5, help="members of each resync room")
    parser.add_argument("--repeat", type=int, default=5, help="create + add rounds")
    return parser.parse_args(argv)


async def post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> Any:
    async with session.post(url, data=orjson.dumps(body)) as response:
        reply = orjson.loads(await response.read())
        if response.status != 200:
            raise RuntimeError(f"{url}: {response.status} {reply}")
        return reply


async def started(ej: EjabberdServer, store: Path) -> Daemon:
    daemon = await Daemon.open(daemon_config(ej, store, log={"level": "WARNING"}))
    await daemon.start()
    await asyncio.wait_for(daemon.link.up.wait(), 30)
    await daemon.resync.wait()
    return daemon


async def group_setup(session: aiohttp.ClientSession, base: str, room: str,
                      members: list[str]) -> float:
    began = time.perf_counter()
    await post(session, base + "create_muc", {"muc_id": room, "muc_owner": "owner",
                                              "muc_name": room})
    reply = await post(session, base + "add_muc_user", {"muc_id": room, "muc_owner": "owner",
                                                        "muc_member": members})
    elapsed = time.perf_counter() - began
    assert all(item["status"] == "added" for item in reply["data"]["items"]), reply
    return elapsed


async def many_groups(session: aiohttp.ClientSession, base: str, rooms: int,
                      users: list[str], per_room: int) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(rooms):
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            members = [users[(n + k) % len(users)] for k in range(per_room)]
            await post(session, base + "create_muc", {"muc_id": f"bulk{n}",
                                                      "muc_owner": "owner"})
            await post(session, base + "add_muc_user", {"muc_id": f"bulk{n}",
                                                        "muc_owner": "owner",
                                                        "muc_member": members})

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def main(args: argparse.Namespace, workdir: Path) -> None:
    with EjabberdServer() as ej:
        users = [f"m{n}" for n in range(max(args.members, args.per_room))]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda name: ej.register(name, "pw"), ["owner", *users]))
        daemon = await started(ej, workdir / "warm.db")
        base = f"http://127.0.0.1:{daemon.config.http.port}/qtalk/"
        try:
            async with aiohttp.ClientSession() as session:
                setups = [await group_setup(session, base, f"timed{n}", users[:args.members])
                          for n in range(args.repeat)]
                began = time.perf_counter()
                await many_groups(session, base, args.rooms, users, args.per_room)
                bulk = time.perf_counter() - began
            warm = await daemon.room_admin.resync()
        finally:
            await daemon.stop()
        cold_daemon = await started(ej, workdir / "cold.db")
        cold = cold_daemon.resync.last
        await cold_daemon.stop()
    assert cold is not None
    print(f"create_muc + add_muc_user ({args.members} members, one call), "
          f"{args.repeat} rounds: median {statistics.median(setups) * 1000:.0f} ms, "
          f"min {min(setups) * 1000:.0f} ms, max {max(setups) * 1000:.0f} ms")
    print(f"setting up {args.rooms} groups of 1 + {args.per_room} members, {CONCURRENCY} "
          f"at a time: {bulk:.1f} s")
    print(f"resync of {warm.rooms} rooms, warm store (on demand): {warm.seconds:.2f} s")
    print(f"resync of {cold.rooms} rooms, empty store (daemon start): {cold.seconds:.2f} s")


if __name__ == "__main__":
    arguments = parse_args(None)
    with tempfile.TemporaryDirectory(prefix="rooms-timing-") as tmp:
        asyncio.run(main(arguments, Path(tmp)))
