"""Floor reference (b): a bare `asyncio.Protocol` on httptools (llhttp), nothing else.

    python -m bench.floor_httptools --port P --component-port C --domain D --secret S

The least an HTTP/1.1 server can be: llhttp parses, every complete `POST /api/send_message`
is answered at once and in order (keep-alive, pipelining), anything else gets a 404, a head
llhttp refuses closes the connection. Same request, stanza and link as `bench.floor_aiohttp`
(`bench.floor`). Measurement only: no limits, no timeouts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

import httptools

from bench.floor import ANSWER, BadRequest, ChatMessage, Closer, FloorLink, chat_message, run
from devenv.proc import LOOPBACK

PATH = b"/api/send_message"


def _response(status: bytes, body: bytes) -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


OK = _response(b"200 OK", ANSWER)
BAD_REQUEST = _response(b"400 Bad Request", b"")
NOT_FOUND = _response(b"404 Not Found", b"")


class FloorProtocol(asyncio.Protocol):
    """One connection: llhttp's callbacks collect a request, its completion answers it."""

    def __init__(self, link: asyncio.StreamWriter,
                 message: Callable[[bytes], ChatMessage] = chat_message) -> None:
        self.link = link
        self.message = message  # the stanza's shape
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    # -- llhttp's callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url, self.body = b"", []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.transport is not None
        self.transport.write(self._answer())
        if not self.parser.should_keep_alive():
            self.transport.close()

    def _answer(self) -> bytes:
        if self.url != PATH or self.parser.get_method() != b"POST":
            return NOT_FOUND
        try:
            self.link.write(self.message(b"".join(self.body)).data)
        except BadRequest:
            return BAD_REQUEST
        return OK


async def serve(link: FloorLink, port: int) -> Closer:
    server = await asyncio.get_running_loop().create_server(
        lambda: FloorProtocol(link.writer, link.message), LOOPBACK, port)
    return closer(server)


def closer(server: asyncio.Server) -> Closer:
    async def close() -> None:
        server.close()
        await server.wait_closed()
    return close


if __name__ == "__main__":
    run(serve, __doc__.splitlines()[0] if __doc__ else "")
