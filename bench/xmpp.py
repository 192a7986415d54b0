"""Lean raw XMPP for measuring: a counting c2s receiver and the XEP-0114 handshake.

The receiver logs in (RFC 6120 SASL PLAIN, resource binding, initial presence) and then only
counts `</body>` in the byte stream: one per delivered message, also inside a MucSub event
(whose `<message>` nests another one, so `</message>` would count twice). In latency runs it
also reads the due time the load generator put at the start of each body (`L<ns>|`); both
sides use CLOCK_MONOTONIC, which is system-wide, so the difference is the delivery latency.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
import time

STREAMS = "http://etherx.jabber.org/streams"
BODY_END = b"</body>"
STREAM_OPEN = re.compile(rb"<stream:stream[^>]*>")
DUE = re.compile(rb"<body[^>]*>L(\d{6,20})\|")


class Counter:
    """What one receiver has seen: deliveries, the time of the last, latencies (ns)."""

    def __init__(self) -> None:
        self.count = 0
        self.last_at = 0.0
        self.latencies: list[int] = []
        self.record_latency = False
        self._tail = b""

    def reset(self, *, latency: bool = False) -> None:
        self.count, self.last_at, self.latencies = 0, 0.0, []
        self.record_latency = latency

    def feed(self, data: bytes) -> None:
        now = time.monotonic_ns()
        buf = self._tail + data if self._tail else data
        end = buf.rfind(BODY_END)
        if end < 0:
            self._tail = buf
            return
        end += len(BODY_END)
        done, self._tail = buf[:end], buf[end:]
        self.count += done.count(BODY_END)
        self.last_at = now / 1e9
        if self.record_latency:
            self.latencies += [now - int(due) for due in DUE.findall(done)]


async def _read_until(reader: asyncio.StreamReader, marker: bytes | re.Pattern[bytes],
                      timeout: float = 10.0) -> bytes:
    def found(buf: bytes) -> bool:
        return marker in buf if isinstance(marker, bytes) else bool(marker.search(buf))

    buf = b""
    async with asyncio.timeout(timeout):
        while not found(buf):
            chunk = await reader.read(65536)
            if not chunk:
                raise ConnectionError(f"stream closed while waiting for {marker!r}: {buf!r}")
            buf += chunk
    return buf


def _stream_header(to: str, ns: str) -> bytes:
    return (f"<?xml version='1.0'?><stream:stream to='{to}' xmlns='{ns}' "
            f"xmlns:stream='{STREAMS}' version='1.0'>").encode()


class Receiver:
    """One logged-in c2s session whose reader task feeds a Counter until closed."""

    def __init__(self, jid: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.jid = jid
        self.counter = Counter()
        self.eof = False
        self._writer = writer
        self._task = asyncio.create_task(self._read(reader), name=f"receiver {jid}")

    @classmethod
    async def login(cls, port: int, user: str, host: str, password: str) -> Receiver:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        writer.write(_stream_header(host, "jabber:client"))
        await _read_until(reader, b"</stream:features>")
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        writer.write(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
                     f"{token}</auth>".encode())
        reply = await _read_until(reader, b"/>")
        if b"<success" not in reply:
            raise ConnectionError(f"SASL refused for {user}@{host}: {reply!r}")
        writer.write(_stream_header(host, "jabber:client"))
        await _read_until(reader, b"</stream:features>")
        writer.write(b"<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                     b"<resource>bench</resource></bind></iq>")
        await _read_until(reader, b"</iq>")
        writer.write(b"<presence/>")
        await writer.drain()
        return cls(f"{user}@{host}/bench", reader, writer)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        feed = self.counter.feed
        while chunk := await reader.read(1 << 18):
            feed(chunk)
        self.eof = True

    async def close(self) -> None:
        self._task.cancel()
        self._writer.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


async def component_handshake(port: int, domain: str, secret: str
                              ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a XEP-0114 stream as `domain` and authenticate with the shared secret."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(f"<stream:stream xmlns='jabber:component:accept' xmlns:stream='{STREAMS}' "
                 f"to='{domain}'>".encode())
    header = await _read_until(reader, STREAM_OPEN)
    found = re.search(rb"id=['\"]([^'\"]+)['\"]", header[header.index(b"<stream:stream"):])
    if found is None:
        raise ConnectionError(f"no stream id from the server: {header!r}")
    digest = hashlib.sha1(found.group(1) + secret.encode()).hexdigest()  # noqa: S324 (XEP-0114)
    writer.write(f"<handshake>{digest}</handshake>".encode())
    reply = await _read_until(reader, b"handshake")
    if b"<handshake" not in reply:
        raise ConnectionError(f"handshake refused: {reply!r}")
    return reader, writer
