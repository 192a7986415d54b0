"""`python -m bench.hotpath`: the daemon's own CPU per request, without sockets or a server.

The real HTTP protocol, pipeline, handlers, message service, delivery and SQLite outbox (a
real file, WAL), driven in one process: connections are fake transports that feed the next
request as soon as the answer to the last is written (like wrk's closed loop), and the link
at the port records stanzas and answers every barrier at once. What it prints is the Python
side of a request, the part the daemon can make cheaper; the syscalls (one read, one answer
write, the link's writes shared per loop turn) come on top and are counted by `make bench`.

    python -m bench.hotpath                      # send_message, carbons on, 16 connections
    python -m bench.hotpath --carbons off --requests 50000 --profile run/hotpath.prof
    python -m bench.hotpath --synchronous full --batch 100   # send_thirdmessage arrays of 100,
                                                             # the outbox synced per commit
    python -m bench.hotpath --layers                         # the cost of each layer

`--upto LAYER` stops the request at a layer, with a fake port behind it: `http` (the server
and pipeline; the route answers a fixed envelope of the same shape), `service` (the handler,
the message service, the recipient check, the stanzas; the sink accepts at once), `delivery`
(the window, the barrier, the link, no outbox), `outbox` (the SQLite outbox too, no audit
line), `all` (everything, as the daemon runs). `--layers` runs each in a process of its own
and prints what each layer adds: the floor of every layer, measured side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import logging
import pstats
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import uvloop
from lxml import etree

from component.config import parse_config
from component.http.envelope import Answer, success
from component.http.messages import MessageRoutes
from component.http.protocol import HttpConnection
from component.http.route import POST, Request, Route
from component.http.server import make_pipeline, make_server
from component.jid import Jid
from component.logs import setup_logging
from component.services.delivery import OutboxDelivery
from component.services.hosts import HostRegistry
from component.services.messages import MessageService
from component.services.ports import DeliveryReport
from component.services.recipients import RecipientCheck
from component.store.db import Database
from component.store.outbox import SqliteOutbox
from component.xmpp.link import check_outbound
from component.xmpp.stanza_values import Stanza

HOST, MUC, COMPONENT = "qtalk.test.org", "conference.qtalk.test.org", "api.qtalk.test.org"
BODY = {"From": "test1", "To": [{"User": "test2"}],
        "Body": "perf anchor message body 0123456789 abcdefghijklmnopqrstuvwxyz"}


class AckingLink:
    """The link at the port: keeps the stanzas' bytes, answers each barrier on the next turn."""

    def __init__(self) -> None:
        self.up = asyncio.Event()
        self.up.set()
        self.written = 0
        self._component = Jid.parse(COMPONENT)

    def check_addresses(self, stanza: Stanza) -> None:
        check_outbound(stanza, self._component, lambda domain: domain == HOST)

    def send(self, stanza: Stanza) -> None:
        self.written += 1

    def flush(self) -> None:
        pass

    def barrier(self) -> asyncio.Future[etree._Element]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[etree._Element] = loop.create_future()
        loop.call_soon(future.set_result, etree.Element("iq"))
        return future

    async def writable(self) -> None:
        return None

    def is_writable(self) -> bool:
        return True

    def is_up(self) -> bool:
        return True

    def on_up(self, listener: Callable[[], None]) -> None:
        pass

    def on_down(self, listener: Callable[[], None]) -> None:
        pass


class AcceptingSink:
    """The delivery port for `--upto service`: checks addresses as the link does, accepts."""

    def __init__(self, link: AckingLink) -> None:
        self.check_addresses = link.check_addresses
        self._accepted = DeliveryReport("accepted")

    async def deliver(self, stanzas: Any, *, wait: float | None = None,
                      remember: Any = (), deferred: bool = False) -> DeliveryReport:
        return self._accepted

    async def accepted_before(self, keys: Any) -> dict[str, str]:
        return {}


class EveryoneExists:
    """The account probe at the port: every recipient has an account (asked once each)."""

    async def exists(self, user: Jid) -> bool:
        return True


class LoopingTransport(asyncio.Transport):
    """A client connection that sends its next request once an answer is written."""

    def __init__(self, request: bytes, budget: list[int], done: asyncio.Event) -> None:
        super().__init__()
        self.request, self.budget, self.done = request, budget, done
        self.protocol: asyncio.Protocol | None = None  # ours, or a floor's

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if bytes(data[:12]) not in (b"HTTP/1.1 200", b"HTTP/1.1 207"):
            raise RuntimeError(f"unexpected answer: {bytes(data)[:300]!r}")
        self.send_next()

    def send_next(self) -> None:
        if self.budget[0] <= 0:
            if self.budget[0] == 0:
                self.done.set()
            return
        self.budget[0] -= 1
        assert self.protocol is not None
        asyncio.get_running_loop().call_soon(self.protocol.data_received, self.request)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def post(path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def looping_clients(request: bytes, connections: int, requests: int,
                    protocol: Callable[[], asyncio.Protocol]
                    ) -> tuple[list[LoopingTransport], asyncio.Event]:
    """`connections` clients sending `request` until `requests` are answered (then the event
    is set), each connected to a protocol of its own; `send_next` on each starts them."""
    budget, done = [requests], asyncio.Event()
    transports = []
    for _ in range(connections):
        transport = LoopingTransport(request, budget, done)
        transport.protocol = protocol()
        transport.protocol.connection_made(transport)
        transports.append(transport)
    return transports, done


async def measure(args: argparse.Namespace, store: Path) -> None:
    config = parse_config({
        "xmpp": {"server": "127.0.0.1", "domain": COMPONENT, "secret": "hotpath-secret",
                 "hosts": [HOST], "muc_domain": MUC, "carbons": args.carbons == "on"},
        "store": {"path": str(store), "synchronous": args.synchronous},
        "log": {"level": "WARNING" if args.upto != "all" else args.log_level}})
    setup_logging(config.log)
    db = await Database.open(config.store.path)
    hosts = HostRegistry(config.xmpp.hosts, MUC)
    link = AckingLink()
    outbox = SqliteOutbox(db, synchronous=args.synchronous) \
        if args.upto in ("outbox", "all") else None
    delivery = OutboxDelivery(link, outbox, config.delivery)
    await delivery.start()
    recipients = RecipientCheck(EveryoneExists(), hosts, known_for=300.0, unknown_for=10.0,
                                on_lost=lambda lost: None) \
        if args.check_recipients == "on" else None
    service = MessageService(AcceptingSink(link) if args.upto == "service" else delivery, hosts,
                             max_stanza_bytes=config.limits.max_stanza_bytes,
                             carbons=config.xmpp.carbons, recipients=recipients)
    routes = MessageRoutes(service, config.limits).routes() if args.upto != "http" \
        else [Route(route.path, POST, _fixed_answer) for route in
              MessageRoutes(service, config.limits).routes()]
    pipeline = make_pipeline(config, routes, db=db)
    server = make_server(config, pipeline, handed_over=delivery.commit_pending)
    path, body = _request_body(args.batch)
    transports, done = looping_clients(post(f"/qtalk/{path}", body), args.connections,
                                       args.requests, lambda: HttpConnection(server))
    # As the daemon does once started (component/app.py): what start-up allocated is frozen.
    gc.collect()
    gc.freeze()
    profiler = cProfile.Profile() if args.profile else None
    cpu, loop_cpu, wall = time.process_time(), time.thread_time(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    for transport in transports:
        transport.send_next()
    await done.wait()
    if profiler is not None:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    loop_cpu = time.thread_time() - loop_cpu
    per = 1e6 / args.requests
    print(f"{args.requests} {path} requests{f' of {args.batch}' if args.batch else ''}, "
          f"carbons {args.carbons}, recipients checked {args.check_recipients}, "
          f"synchronous {args.synchronous}, "
          f"{args.connections} connections, per request: {per * cpu:.1f} µs CPU "
          f"({per * loop_cpu:.1f} on the loop's thread), {per * wall:.1f} µs wall")
    await delivery.drain(5.0)
    await db.close()
    if profiler is not None:
        profiler.dump_stats(args.profile)
        pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(25)


_FIXED = success({"status": "accepted", "items": [
    {"index": 0, "to": "test2", "ok": True, "id": "http12345678901234561796529725476"}]})


async def _fixed_answer(request: Request) -> Answer:
    """`--upto http`: the answer of a send_message, without its work."""
    return _FIXED


def _request_body(batch: int) -> tuple[str, bytes]:
    """send_message alone, or send_thirdmessage with an array of `batch` messages."""
    if not batch:
        return "send_message", orjson.dumps(BODY)
    message = f"<message type='chat'><body>{BODY['Body']}</body></message>"
    return "send_thirdmessage", orjson.dumps(
        [{"from": f"test1@{HOST}", "to": f"test2@{HOST}", "message": message}] * batch)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hotpath")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--carbons", choices=("on", "off"), default="on")
    parser.add_argument("--check-recipients", choices=("on", "off"), default="on",
                        help="[delivery] check_recipients: the recipient learned once, then "
                             "answered from memory (the daemon's default)")
    parser.add_argument("--synchronous", choices=("normal", "full"), default="normal",
                        help="[store] synchronous: full syncs the outbox at every commit")
    parser.add_argument("--batch", type=int, default=0,
                        help="send_thirdmessage arrays of this many (0: send_message)")
    parser.add_argument("--log-level", default="INFO", help="INFO writes the audit lines")
    parser.add_argument("--profile", type=Path, help="cProfile stats to this file")
    parser.add_argument("--upto", choices=LAYERS, default="all",
                        help="stop the request at this layer, a fake port behind it")
    parser.add_argument("--layers", action="store_true",
                        help="each --upto in a process of its own, and what each layer adds")
    args = parser.parse_args(argv)
    if args.layers:
        _layers(argv or sys.argv[1:])
        return
    logging.raiseExceptions = True
    with tempfile.TemporaryDirectory() as folder:
        uvloop.run(measure(args, Path(folder) / "store.db"))


LAYERS = ("http", "service", "delivery", "outbox", "all")
LAYER_NAMES = {"http": "HTTP server and pipeline (a fixed answer)",
               "service": "+ handler, message service, recipient check, stanzas",
               "delivery": "+ delivery: window, barrier, link (no outbox)",
               "outbox": "+ the SQLite outbox", "all": "+ the audit line (the daemon)"}


def _layers(argv: list[str]) -> None:
    """Run every --upto in a child process; print µs CPU per request and each layer's part."""
    passed = [arg for arg in argv if arg != "--layers"]
    before = 0.0
    print("| layer | µs CPU per request | this layer |\n|---|---|---|")
    for layer in LAYERS:
        done = subprocess.run([sys.executable, "-m", "bench.hotpath", *passed, "--upto", layer],
                              capture_output=True, text=True, check=True)
        found = re.search(r"per request: ([0-9.]+) µs CPU", done.stdout)
        assert found is not None, done.stdout + done.stderr
        cpu = float(found[1])
        print(f"| {LAYER_NAMES[layer]} | {cpu:.1f} | {cpu - before:+.1f} |", flush=True)
        before = cpu


if __name__ == "__main__":
    main()
