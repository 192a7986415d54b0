"""Debian's redis-server for tests: loopback only, on a free port, in its own work directory.

Writes are kept in an append-only file synced at every write, so a stop and a start on the
same port (a fault test) find what was there, as a deployed Redis would.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from devenv.proc import LOOPBACK, ServerProcess, free_ports, wait_for_ports


def installed() -> bool:
    return shutil.which("redis-server") is not None


class RedisServer(ServerProcess):
    name = "redis-server"
    stop_grace = 5.0
    log_files = ("redis.log",)

    def __init__(self, workdir: Path | None = None) -> None:
        super().__init__(workdir, "qc-redis-")
        (self.port,) = free_ports(1)

    def url(self, db: int) -> str:
        return f"redis://{LOOPBACK}:{self.port}/{db}"

    def start(self, timeout: float = 10.0) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server not installed: `make servers` installs it"
        began = time.monotonic()
        self._spawn([binary, "--port", str(self.port), "--bind", LOOPBACK, "--save", "",
                     "--appendonly", "yes", "--appendfsync", "always",
                     "--dir", str(self.workdir)], None, "redis.log")
        wait_for_ports([self.port], timeout, lambda: self.running, self.name)
        self.startup_seconds = time.monotonic() - began
