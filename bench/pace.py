"""Open-loop pacing: item i is due at start + i/rate, whatever happened to the ones before.

Late items are not skipped or re-timed (that would be coordinated omission): whatever is due
when the loop wakes up is handed out at once, each with its own due time (CLOCK_MONOTONIC ns).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator


async def due_times(rate: float, seconds: float, *, lead: float = 0.02
                    ) -> AsyncIterator[list[int]]:
    """Batches of due times (ns) that have come, until rate × seconds were handed out."""
    period_ns, total = int(1e9 / rate), int(rate * seconds)
    start_ns = time.monotonic_ns() + int(lead * 1e9)
    handed = 0
    while handed < total:
        now = time.monotonic_ns()
        due = start_ns + handed * period_ns
        if due > now:
            await asyncio.sleep((due - now) / 1e9)
            continue
        last = min(total, (now - start_ns) // period_ns + 1)
        yield [start_ns + i * period_ns for i in range(handed, last)]
        handed = last
