"""`python -m bench.loopcost MODE N`: what the event loop's own machinery costs, alone.

    valgrind --tool=callgrind python -m bench.loopcost task 10000   # and 30000: the
    difference divided by 20,000 is the instructions of one

Modes, each done N times on uvloop, IN_FLIGHT at a time, as the daemon's requests do them:
* `call_soon`: a callback scheduled and run;
* `task`: a task of a coroutine that returns at once, with a done callback;
* `wait`: a task that waits once on a future resolved by a scheduled callback (a handler
  waiting for its commit);
* `wait-deep`: the same, the wait five coroutine calls deep (the daemon's handler chain).
The floor sidecars do none of these per request (bench/RESULTS.md, session 8).
"""

from __future__ import annotations

import asyncio
import sys

import uvloop

IN_FLIGHT = 16  # bench.hotpath's connections, and wrk's


async def _returns() -> int:
    return 1


async def _waits(future: asyncio.Future[int], depth: int) -> int:
    if depth:
        return await _waits(future, depth - 1)
    return await future


class _Wave:
    """IN_FLIGHT of a mode: `done` once each has finished."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.left = IN_FLIGHT
        self.done: asyncio.Future[None] = loop.create_future()

    def finished(self, _: object) -> None:
        self.left -= 1
        if self.left == 0:
            self.done.set_result(None)


async def measure(mode: str, count: int) -> None:
    """`count` of `mode`, IN_FLIGHT at a time as the daemon's connections have them: with all
    of them alive at once, the collector's passes over them grew with their number and
    their depth, and made up most of the count."""
    loop = asyncio.get_running_loop()
    for _ in range(count // IN_FLIGHT):
        wave = _Wave(loop)
        finished = wave.finished
        if mode == "call_soon":
            for _ in range(IN_FLIGHT):
                loop.call_soon(finished, None)
        elif mode == "task":
            for _ in range(IN_FLIGHT):
                loop.create_task(_returns()).add_done_callback(finished)
        else:
            depth = 5 if mode == "wait-deep" else 0
            futures = [loop.create_future() for _ in range(IN_FLIGHT)]
            for future in futures:
                loop.create_task(_waits(future, depth)).add_done_callback(finished)
            await asyncio.sleep(0)
            for future in futures:
                loop.call_soon(future.set_result, 1)
        await wave.done


def main(argv: list[str]) -> None:
    modes = ("call_soon", "task", "wait", "wait-deep")
    if len(argv) != 2 or argv[0] not in modes or not argv[1].isdigit():
        raise SystemExit(f"usage: python -m bench.loopcost {{{','.join(modes)}}} N")
    uvloop.run(measure(argv[0], int(argv[1])))


if __name__ == "__main__":
    main(sys.argv[1:])
