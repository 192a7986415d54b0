"""The servers of one benchmark round: an isolated ejabberd, and the daemon as a subprocess.

The daemon runs as its own process (`python -m component`), started afresh for each
configuration, so that its CPU (/proc/<pid>/stat) and its peak RSS (VmHWM) are its own and
belong to that configuration alone. Pinned mode puts the server side on CPU 0 (ejabberd with
one scheduler, `+S 1:1`, and the daemon) and leaves CPU 1 to the load and the receivers.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import aiohttp

from bench import procstat
from devenv.demo import config_toml
from devenv.ejabberd import EjabberdServer
from devenv.proc import LOOPBACK, free_ports

ROOT = Path(__file__).resolve().parents[1]
SERVER_CPU = "0"


def start_ejabberd(workdir: Path, *, pinned: bool) -> EjabberdServer:
    """MAM off for users and rooms: on Mnesia it caps delivery at ~150 msgs/s."""
    server = EjabberdServer(workdir, mam=False, room_mam=False,
                            erl_flags=("+S", "1:1") if pinned else (),
                            cpus=SERVER_CPU if pinned else None)
    server.start()
    return server


class DaemonProcess:
    """`python -m component` with a written config; stopped with SIGTERM (it drains)."""

    def __init__(self, server: EjabberdServer, workdir: Path, name: str, *, durable: bool,
                 pinned: bool, store: Path | None = None, carbons: bool = True) -> None:
        (self.port,) = free_ports(1)
        self.url = f"http://{LOOPBACK}:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / f"{name}.log"
        config = workdir / f"{name}.toml"
        store = store or workdir / f"{name}.db"
        config.write_text(config_toml(
            server, http_port=self.port, store=store,
            xmpp=[] if carbons else ["carbons = false"],
            extra=["[delivery]", f"durable = {'true' if durable else 'false'}", ""]))
        argv = [sys.executable, "-m", "component", "--config", str(config)]
        if pinned:
            argv = ["taskset", "-c", SERVER_CPU, *argv]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL,
                                            stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self.pid = self.process.pid  # taskset execs the interpreter: the same process

    async def ready(self, timeout: float = 30.0) -> None:
        """/readyz answers 200 once the component link is up."""
        async with asyncio.timeout(timeout), aiohttp.ClientSession() as session:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the daemon exited:\n{self.tail()}")
                try:
                    async with session.get(self.url + "/readyz") as reply:
                        if reply.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)

    def cpu(self) -> float:
        return procstat.cpu_seconds(self.pid)

    def peak_rss_mb(self) -> float:
        return procstat.peak_rss_mb(self.pid)

    async def stop(self, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return await asyncio.wait_for(asyncio.to_thread(self.process.wait), timeout)
        except TimeoutError:
            self.process.kill()
            return self.process.wait()

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
