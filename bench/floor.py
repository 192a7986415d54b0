"""What the floor sidecars share: the request, its stanza, the component link, the process.

A floor is a measurement-only reference (issue 13), never product code: the least a sidecar
can do for ejabberd's own `POST /api/send_message` JSON (`{"type","from","to","subject",
"body"}`): build one escaped chat stanza and write it to a raw XEP-0114 link. No outbox, no
acknowledgement, no auth, no audit, no metrics. `bench.floor_aiohttp` and
`bench.floor_httptools` differ only in their HTTP layer, so the bench shows what each HTTP
choice costs before a daemon does any work of its own; `bench.floor_durable` adds to the
httptools one the least that the daemon's guarantees cost (an outbox, a barrier, an audit
line). Each runs as its own process under uvloop, opens its link before it listens (so
answering HTTP at all means ready) and on SIGTERM stops listening, then closes the stream.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from xml.sax.saxutils import escape, quoteattr

import orjson
import uvloop

from bench import flood
from bench.xmpp import component_handshake
from component.errors import ApiError
from component.jid import JidError

ANSWER = b"0"  # what ejabberd's send_message answers on success
STREAM_END = b"</stream:stream>"
_ids = itertools.count()


class BadRequest(ValueError):
    """The body is not the JSON ejabberd's send_message takes."""


class ChatMessage(NamedTuple):
    id: str
    sender: str
    to: str
    data: bytes  # the stanza


def chat_message(body: bytes) -> ChatMessage:
    """The one stanza for a send_message body; every attribute and text escaped."""
    kind, sender, to, text, subject = _request(body)
    stanza_id = f"floor{next(_ids)}"
    head = (f"<message type={quoteattr(kind)} id='{stanza_id}' "
            f"from={quoteattr(sender)} to={quoteattr(to)}>")
    subject_element = f"<subject>{escape(subject)}</subject>" if subject else ""
    data = f"{head}{subject_element}<body>{escape(text)}</body></message>".encode()
    return ChatMessage(stanza_id, sender, to, data)


def startalk_message(body: bytes) -> ChatMessage:
    """The request's message as the daemon writes it for a send_message to one user (the
    body's Startalk attributes, the qtalk carrier; no carbon), as `bench.flood --shape
    message` writes it, so that the server's share of a message is the daemon's (`--shape
    message`). A chat message, whatever type the request names."""
    _, sender, to, text, _ = _request(body)
    n = next(_ids)
    try:
        data = flood.message(n, sender, to, text, "message")
    except (JidError, ApiError) as exc:
        raise BadRequest(str(exc)) from None
    return ChatMessage(f"f{n}", sender, to, data)


SHAPES: dict[str, Callable[[bytes], ChatMessage]] = {
    "plain": chat_message, "message": startalk_message}


def _request(body: bytes) -> tuple[str, str, str, str, str]:
    """type, from, to, body and subject of ejabberd's send_message JSON."""
    try:
        request = orjson.loads(body)
        sender, to, text = request["from"], request["to"], request["body"]
        subject = request.get("subject") or ""
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise BadRequest(str(exc)) from None
    if not all(isinstance(v, str) for v in (sender, to, text, subject)):
        raise BadRequest("from, to, subject and body are strings")
    return str(request.get("type") or "chat"), sender, to, text, subject


def chat_stanza(body: bytes) -> bytes:
    return chat_message(body).data


def _ignore(data: bytes) -> None:
    pass


@dataclass
class FloorLink:
    """The component link as a floor sees it: where to write, and who reads what the server
    sends (nobody, unless the floor waits for acknowledgements)."""

    writer: asyncio.StreamWriter
    component: str  # the component's domain
    server: str  # the server's, which answers pings
    store: Path  # a file the floor may keep an outbox in
    on_data: Callable[[bytes], None] = _ignore
    message: Callable[[bytes], ChatMessage] = chat_message  # the stanza's shape (`--shape`)


Closer = Callable[[], Awaitable[None]]
Serve = Callable[[FloorLink, int], Awaitable[Closer]]


async def _read(reader: asyncio.StreamReader, link: FloorLink) -> None:
    """What the server sends goes to the floor's reader; a stream error ends the link, which
    the bench sees as messages lost."""
    while data := await reader.read(65536):
        link.on_data(data)
    print("floor: the component link closed", file=sys.stderr, flush=True)


async def _main(args: argparse.Namespace, serve: Serve) -> None:
    reader, writer = await component_handshake(args.component_port, args.domain, args.secret)
    link = FloorLink(writer, args.domain, args.server or args.domain.partition(".")[2],
                     Path(args.store), message=SHAPES[args.shape])
    reading = asyncio.create_task(_read(reader, link))
    stop_serving = await serve(link, args.port)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await stop_serving()
    writer.write(STREAM_END)
    await writer.drain()
    writer.close()
    reading.cancel()


def run(serve: Serve, description: str) -> None:
    """`python -m bench.floor_… --port P --component-port C --domain D --secret S [--store F]`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True, help="HTTP, on 127.0.0.1")
    parser.add_argument("--component-port", type=int, required=True)
    parser.add_argument("--domain", required=True, help="a component domain of the server")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--server", default="", help="the server's domain (default: the "
                        "component's without its first label)")
    parser.add_argument("--store", default="floor.db", help="a file for an outbox")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="plain",
                        help="the stanza: ejabberd's plain chat message, or the daemon's")
    uvloop.run(_main(parser.parse_args(), serve))
