"""Open-loop HTTP load at a fixed rate, for request-to-delivery latency.

    python -m bench.ratec --url URL --template FILE --rate 1000 --seconds 20

Request i is due at start + i/rate whatever happened to the ones before (no coordinated
omission); its JSON is the template with every `@@BODY@@` replaced by `L<due ns>|` plus 40
bytes, CLOCK_MONOTONIC, which the receiving client reads back. 32 keep-alive connections; a
request that finds them all busy waits, and that wait counts. Prints one JSON line: requests
sent and answered, the HTTP latency percentiles from the due time, and this process's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from pathlib import Path

import aiohttp
import uvloop

from bench.loadproc import percentile
from bench.pace import due_times

PLACEHOLDER = b"@@BODY@@"
PAD = b"x" * 40


class Load:
    def __init__(self, url: str, template: bytes, connections: int) -> None:
        self.url, self.template = url, template
        self.connections = connections
        self.latencies_ms: list[float] = []
        self.statuses: dict[int, int] = {}
        self.failures = 0

    async def one(self, session: aiohttp.ClientSession, due_ns: int) -> None:
        body = self.template.replace(PLACEHOLDER, b"L%d|%s" % (due_ns, PAD))
        try:
            async with session.post(self.url, data=body,
                                    headers={"Content-Type": "application/json"}) as reply:
                await reply.read()
                self.statuses[reply.status] = self.statuses.get(reply.status, 0) + 1
        except (aiohttp.ClientError, TimeoutError):
            self.failures += 1
            return
        self.latencies_ms.append((time.monotonic_ns() - due_ns) / 1e6)

    async def run(self, rate: float, seconds: float) -> dict[str, object]:
        connector = aiohttp.TCPConnector(limit=self.connections, force_close=False)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await self._warm(session)
            print(json.dumps({"ready": True}), flush=True)
            tasks: set[asyncio.Task[None]] = set()
            sent, started = 0, time.monotonic()
            async for batch in due_times(rate, seconds):
                for due in batch:
                    task = asyncio.create_task(self.one(session, due))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                sent += len(batch)
            ended = time.monotonic()
            await asyncio.gather(*tasks)
        return self._report(sent, started, ended)

    async def _warm(self, session: aiohttp.ClientSession) -> None:
        """Open the keep-alive connections before the clock starts (HEAD-free: a 404 GET)."""
        async def probe() -> None:
            async with session.get(self.url.rsplit("/", 1)[0] + "/__warm__") as reply:
                await reply.read()
        await asyncio.gather(*(probe() for _ in range(self.connections)),
                             return_exceptions=True)

    def _report(self, sent: int, started: float, ended: float) -> dict[str, object]:
        lat = sorted(self.latencies_ms)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {"sent": sent, "started": started, "ended": ended,
                "statuses": {str(k): v for k, v in self.statuses.items()},
                "failures": self.failures,
                "http_p50": percentile(lat, 50), "http_p99": percentile(lat, 99),
                "http_p999": percentile(lat, 99.9), "http_max": lat[-1] if lat else 0.0,
                "cpu": usage.ru_utime + usage.ru_stime}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", required=True)
    parser.add_argument("--template", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    load = Load(args.url, args.template.read_bytes(), args.connections)
    print(json.dumps(uvloop.run(load.run(args.rate, args.seconds))), flush=True)


if __name__ == "__main__":
    main()
