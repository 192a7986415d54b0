"""`python -m bench.floorpath`: the floors' own CPU per request, measured as bench.hotpath
measures the daemon's, so that the two compare layer for layer.

    python -m bench.floorpath                  # bench.floor_durable: outbox, barrier, audit
    python -m bench.floorpath --floor httptools --requests 50000

The floor's protocol is driven by bench.hotpath's looping transports (16 connections, the
next request fed once an answer is written), its link at the port keeps what is written and
answers each ping on the next loop turn; the durable floor's outbox is a real SQLite file.
Under callgrind (3,000 minus 1,000 requests, divided by 2,000) it gives instructions per
request that do not depend on the machine's other load; the audit lines go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import orjson
import uvloop

from bench import floor_durable
from bench.floor import FloorLink
from bench.floor_httptools import FloorProtocol
from bench.hotpath import BODY, COMPONENT, HOST, looping_clients, post

PING = re.compile(rb"id='(fb\d+)'")


class PongingWriter:
    """The component link at the port: each ping is answered on the next loop turn."""

    def __init__(self) -> None:
        self.link: FloorLink | None = None

    def write(self, data: bytes) -> None:
        ping = PING.search(data) if b"<ping" in data else None
        if ping is not None and self.link is not None:
            asyncio.get_running_loop().call_soon(
                self.link.on_data, b"<iq type='result' id='" + ping[1] + b"'/>")


def _protocols(floor: str, link: FloorLink) -> Callable[[], FloorProtocol]:
    if floor == "httptools":
        return functools.partial(FloorProtocol, link.writer)
    outbox = floor_durable.TurnOutbox(link, floor_durable.open_outbox(link.store))
    return functools.partial(floor_durable.DurableProtocol, outbox)


async def measure(args: argparse.Namespace, store: Path) -> None:
    writer = PongingWriter()
    link = FloorLink(cast(asyncio.StreamWriter, writer), COMPONENT, HOST, store)
    writer.link = link
    body = orjson.dumps({"type": "chat", "from": f"{BODY['From']}@{HOST}",
                         "to": f"test2@{HOST}", "subject": "", "body": BODY["Body"]})
    transports, done = looping_clients(post("/api/send_message", body), args.connections,
                                       args.requests, _protocols(args.floor, link))
    gc.collect()
    gc.freeze()
    cpu, wall = time.process_time(), time.perf_counter()
    for transport in transports:
        transport.send_next()
    await done.wait()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    per = 1e6 / args.requests
    print(f"{args.requests} requests to the {args.floor} floor, {args.connections} "
          f"connections, per request: {per * cpu:.1f} µs CPU, {per * wall:.1f} µs wall",
          file=sys.stdout)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floorpath")
    parser.add_argument("--floor", choices=("durable", "httptools"), default="durable")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        uvloop.run(measure(args, Path(folder) / "floor.db"))


if __name__ == "__main__":
    main()
