"""A loopback TCP proxy whose connections a test can cut, to break the component link, or
hold, to make the server look silent while the connection stays open."""

from __future__ import annotations

import asyncio
import contextlib


class CuttableProxy:
    """Forwards 127.0.0.1:port to 127.0.0.1:target; `cut()` drops and refuses, `restore()`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.accepting = True
        self._answers_flow = asyncio.Event()  # what the target sends back goes through
        self._answers_flow.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def cut(self) -> None:
        """Abort every connection and stop listening (connects are refused)."""
        self.accepting = False
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    def hold(self) -> None:
        """Keep what the target sends back (it arrives on `release()`): a silent server."""
        self._answers_flow.clear()

    def release(self) -> None:
        self._answers_flow.set()

    async def restore(self) -> None:
        self.accepting = True
        await self.start()

    async def close(self) -> None:
        await self.cut()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer),
                             self._pipe(up_reader, writer, self._answers_flow))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    flow: asyncio.Event | None = None) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if flow is not None:
                    await flow.wait()
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
