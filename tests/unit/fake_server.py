"""A scripted XEP-0114 server on loopback: the port the link talks to, faked for unit tests."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib

from lxml import etree

HEADER = ("<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
          "xmlns='jabber:component:accept' id='{id}' from='api.qtalk.test.org'>")


class FakeComponentServer:
    def __init__(self, secret: str = "s3cret", *, answer_pings: bool = True) -> None:
        self.secret = secret
        self.answer_pings = answer_pings
        self.received: list[etree._Element] = []
        self.raw = bytearray()
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.changed = asyncio.Condition()
        self.handshake_gate = asyncio.Event()  # cleared: the handshake's answer waits
        self.handshake_gate.set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        self.drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def drop_all(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    def send(self, xml: str) -> None:
        self.writers[-1].write(xml.encode())

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(lambda: len(self.received) >= count)

    async def wait_connections(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(lambda: self.connections >= count)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = etree.XMLPullParser(events=("start", "end"))
        depth = 0
        stream_id = f"id{self.connections}"
        self.writers.append(writer)
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                self.raw += data
                parser.feed(data)
                for event, element in parser.read_events():
                    depth += 1 if event == "start" else -1
                    if event == "start" and depth == 1:
                        writer.write(HEADER.format(id=stream_id).encode())
                    elif event == "end" and depth == 0:
                        writer.write(b"</stream:stream>")
                        writer.close()
                    elif event == "end" and depth == 1:
                        await self._stanza(element, stream_id, writer)

    async def _stanza(self, element: etree._Element, stream_id: str,
                      writer: asyncio.StreamWriter) -> None:
        name = etree.QName(element).localname
        if name == "handshake":
            expected = hashlib.sha1((stream_id + self.secret).encode()).hexdigest()
            if element.text != expected:
                writer.write(b"<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:"
                             b"xmpp-streams'/></stream:error></stream:stream>")
                writer.close()
                return
            await self.handshake_gate.wait()
            writer.write(b"<handshake/>")
            self.connections += 1
        else:
            self.received.append(element)
            if name == "iq" and self.answer_pings and element.find("{urn:xmpp:ping}ping") \
                    is not None:
                writer.write(f"<iq type='result' id='{element.get('id')}' "
                             f"from='{element.get('to')}' to='{element.get('from')}'/>".encode())
        async with self.changed:
            self.changed.notify_all()
