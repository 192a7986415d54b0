"""Closed-loop HTTP load with Debian's wrk: the same JSON POSTed over and over.

wrk runs as its own process (`-t1`, one event-loop thread), so the load generator never shares
an interpreter with what it measures. Given several bodies, each connection's requests take them
in turn (a Lua `request` hook). Its Lua `done` hook prints one parseable line with the
request count, the non-2xx count and latency percentiles.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

SCRIPT = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{body}]==]

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d non2xx=%d errors=%d duration_us=%d p50_us=%d p99_us=%d p999_us=%d\\n",
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"""


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    non2xx: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    p999_ms: float

    @property
    def ok(self) -> int:
        return self.requests - self.non2xx


def available() -> bool:
    return shutil.which("wrk") is not None


ROTATE = """local bodies = {{{bodies}}}
local n = 0
request = function()
  n = n % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[n])
end
"""


def write_script(directory: Path, name: str, body: bytes, *more: bytes) -> Path:
    """The script POSTing `body`, or `body` and `more` in turn."""
    if any(b"]==]" in b for b in (body, *more)):
        raise ValueError("the body would end wrk's Lua long string")
    path = directory / f"{name}.lua"
    script = SCRIPT.replace("{body}", body.decode())
    if more:
        script += ROTATE.format(bodies=", ".join(f"[==[{b.decode()}]==]" for b in (body, *more)))
    path.write_text(script)
    return path


def parse(output: str) -> WrkResult:
    line = next((x for x in output.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{output}")
    values = {k: int(v) for k, v in (part.split("=") for part in line.split()[1:])}
    return WrkResult(values["requests"], values["non2xx"], values["errors"],
                     values["duration_us"] / 1e6, values["p50_us"] / 1e3,
                     values["p99_us"] / 1e3, values["p999_us"] / 1e3)


async def start(url: str, script: Path, *, connections: int, seconds: float
                ) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "30s",
        "-s", str(script), url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)


async def finish(process: asyncio.subprocess.Process) -> WrkResult:
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"wrk exited with {process.returncode}:\n{output.decode()}")
    return parse(output.decode())
