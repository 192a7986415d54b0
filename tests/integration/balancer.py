"""A round-robin HTTP balancer on loopback, failing over to the next backend, for the
scale-out test (what nginx or HAProxy would be in front of two daemons). The benchmark runs it
as a process of its own, so that its CPU is its own:

    python -m tests.integration.balancer --port N http://127.0.0.1:A http://127.0.0.1:B
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections import Counter

import aiohttp
from aiohttp import web


class RoundRobin:
    def __init__(self, backends: list[str]) -> None:
        self.backends = backends  # base URLs, e.g. http://127.0.0.1:PORT
        self.served: Counter[str] = Counter()
        self._next = 0
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self, port: int = 0) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        start = self._next % len(self.backends)
        self._next += 1
        for backend in self.backends[start:] + self.backends[:start]:
            try:
                async with self._session.request(request.method, backend + request.path_qs,
                                                 data=body) as answer:
                    payload = await answer.read()
            except (aiohttp.ClientConnectionError, aiohttp.ServerDisconnectedError):
                continue  # that daemon is gone: the next one serves
            self.served[backend] += 1
            return web.Response(status=answer.status, body=payload,
                                content_type=answer.content_type)
        return web.Response(status=502, text="no backend")


async def serve(port: int, backends: list[str]) -> None:
    """Until SIGTERM or SIGINT; says `{"ready": true}` on stdout once it listens."""
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    balancer = RoundRobin(backends)
    await balancer.start(port)
    print('{"ready": true}', flush=True)
    try:
        await stop.wait()
    finally:
        await balancer.close()


def main(argv: list[str] | None = None) -> int:
    import uvloop
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("backends", nargs="+", help="base URLs")
    args = parser.parse_args(argv)
    uvloop.run(serve(args.port, args.backends))
    return 0


if __name__ == "__main__":
    sys.exit(main())
