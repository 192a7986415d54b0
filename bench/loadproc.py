"""Helpers for the load processes: start one and read its JSON result, one POST, percentiles.

A load process (bench.ratec, bench.flood) prints `{"ready": true}` once its connections are
open, so the measured window starts with the load, not with an interpreter starting; its last
line is its JSON result.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q / 100 * len(sorted_values)))]


async def start(module: str, *argv: str) -> asyncio.subprocess.Process:
    """`python -m module argv…`; returns once it printed that it is ready."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *argv, stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    assert process.stdout is not None
    line = await process.stdout.readline()
    if b'"ready"' not in line:
        raise RuntimeError(f"{module} did not start: {line!r}")
    return process


async def result(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    output = await process.stdout.read()
    await process.wait()
    if process.returncode != 0 or not output.strip():
        raise RuntimeError(f"load process exited with {process.returncode}: {output!r}")
    decoded: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
    return decoded


async def post_json(url: str, payload: Any) -> dict[str, Any]:
    """One POST for the set-up (rooms, probes): refuses anything but 2xx."""
    async with aiohttp.ClientSession() as session, session.post(url, json=payload) as reply:
        answer: dict[str, Any] = await reply.json(content_type=None)
        if reply.status >= 300:
            raise RuntimeError(f"POST {url}: HTTP {reply.status}: {answer}")
        return answer
