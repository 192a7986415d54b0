"""The raw-link ceiling: pre-built message stanzas written straight to ejabberd over XEP-0114.

    python -m bench.flood --port P --domain D --secret S --sender A --to B --seconds 10
    python -m bench.flood ... --rate 1000 --seconds 20        # the latency floor, open loop

`flood` writes batches of 256 coalesced stanzas as fast as ejabberd reads them, with a ping
after each batch; it keeps at most `--window` stanzas ahead of the last pong, as the daemon
does, because ejabberd kills a component whose queue passes max_fsm_queue. `--shape product`
writes what the daemon writes for one chat message (the message with its `qtalk` carrier and
the XEP-0280 sent carbon to the sender) instead of a plain message; `message` the same
without the carbon. `--rate` writes one stanza
per tick at a fixed rate, its body starting with the due time (`L<monotonic ns>|`). Prints
one JSON line: what was written, when, and this process's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import time

import uvloop

from bench.pace import due_times
from bench.xmpp import component_handshake
from component.jid import Jid
from component.xmpp.stanzas import StartalkFields, build_message, build_sent_carbon

BATCH = 256
PONG = re.compile(rb"id=['\"]b(\d+)['\"]")
BODY = "perf anchor message body 0123456789 abcdefghijklmnopqrstuvwxyz"
PAD = "x" * 40


def message(n: int, sender: str, to: str, body: str, shape: str) -> bytes:
    """One chat message: plain, or exactly as the daemon builds it (with its carbon)."""
    if shape == "plain":
        return (f"<message type='chat' id='f{n}' from='{sender}' to='{to}'>"
                f"<body>{body}</body></message>").encode()
    own, peer = Jid.parse(sender), Jid.parse(to)
    fields = StartalkFields(msg_type="1", extend_info="", body_id=f"f{n}", startalk_type=None,
                            msec_times=str(int(time.time() * 1000)))
    stanza = build_message(own, peer, stanza_id=f"f{n}", msg_type="chat", body=body,
                           fields=fields)
    if shape == "message":
        return stanza.data
    return stanza.data + build_sent_carbon(own, stanza, stanza_id=f"f{n}-carbon").data


def ping(domain: str, host: str, n: int) -> bytes:
    return (f"<iq type='get' id='b{n}' from='{domain}' to='{host}'>"
            f"<ping xmlns='urn:xmpp:ping'/></iq>").encode()


class Acks:
    """Pongs read from the server: the highest batch number acknowledged."""

    def __init__(self) -> None:
        self.acked = 0
        self.changed = asyncio.Event()

    async def read(self, reader: asyncio.StreamReader) -> None:
        while chunk := await reader.read(65536):
            found = PONG.findall(chunk)
            if found:
                self.acked = max(self.acked, *(int(n) for n in found))
                self.changed.set()


async def flood(args: argparse.Namespace, reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter) -> dict[str, float]:
    batch = b"".join(message(i, args.sender, args.to, BODY, args.shape) for i in range(BATCH))
    acks = Acks()
    reading = asyncio.create_task(acks.read(reader))
    sent_batches, batches_ahead = 0, max(1, args.window // BATCH)
    started = time.monotonic()
    deadline = started + args.seconds
    while time.monotonic() < deadline:
        while sent_batches - acks.acked >= batches_ahead:
            acks.changed.clear()
            await acks.changed.wait()
        sent_batches += 1
        writer.write(batch + ping(args.domain, args.host, sent_batches))
        await writer.drain()
    ended = time.monotonic()
    async with asyncio.timeout(60):
        while acks.acked < sent_batches:
            acks.changed.clear()
            await acks.changed.wait()
    reading.cancel()
    return {"sent": sent_batches * BATCH, "started": started, "ended": ended,
            "acked_at": time.monotonic()}


async def fixed_rate(args: argparse.Namespace, writer: asyncio.StreamWriter
                     ) -> dict[str, float]:
    sent, started = 0, time.monotonic()
    async for batch in due_times(args.rate, args.seconds):
        writer.write(b"".join(message(sent + i, args.sender, args.to, f"L{due}|{PAD}",
                                      args.shape) for i, due in enumerate(batch)))
        sent += len(batch)
    await writer.drain()
    return {"sent": sent, "started": started, "ended": time.monotonic()}


async def main_async(args: argparse.Namespace) -> dict[str, float]:
    reader, writer = await component_handshake(args.port, args.domain, args.secret)
    print(json.dumps({"ready": True}), flush=True)
    result = await (fixed_rate(args, writer) if args.rate else flood(args, reader, writer))
    writer.write(b"</stream:stream>")
    await asyncio.sleep(0.5)  # let the server read the tail before the socket closes
    writer.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu"] = usage.ru_utime + usage.ru_stime
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--domain", required=True, help="the component's domain")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--host", required=True, help="the server's user domain (pings)")
    parser.add_argument("--sender", required=True)
    parser.add_argument("--to", required=True)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--window", type=int, default=4096)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--shape", choices=("plain", "message", "product"), default="plain")
    args = parser.parse_args()
    print(json.dumps(uvloop.run(main_async(args))), flush=True)


if __name__ == "__main__":
    main()
