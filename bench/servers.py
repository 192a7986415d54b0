"""The servers of one benchmark round: an isolated ejabberd, and the sidecars as subprocesses.

A sidecar (the daemon, `python -m component`, or a floor reference, `bench.floor_*`) runs as
its own process, started afresh for each run and stopped after it, so that its CPU
(/proc/<pid>/stat) and its peak RSS (VmHWM) are its own and belong to that run alone, and so
that only one component connection at a time holds the round's component domain (ejabberd
shares a domain's traffic among its connections). Pinned mode (`--pin`) puts the server side
on CPU 0 (ejabberd with one scheduler, `+S 1:1`, and the sidecar) and leaves CPU 1 to the
load and the receivers.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Container
from pathlib import Path

import aiohttp

from bench import procstat
from bench.scenarios import Scenario
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


class SidecarProcess:
    """An HTTP sidecar of ejabberd as a process of its own (the daemon, or a floor),
    answering on 127.0.0.1:`port`; stopped with SIGTERM."""

    ready_statuses: Container[int] = range(100, 600)  # answering HTTP at all

    def __init__(self, workdir: Path, name: str, *, pinned: bool) -> None:
        (self.port,) = free_ports(1)
        self.url = f"http://{LOOPBACK}:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir, self.pinned = workdir, pinned
        self.log = workdir / f"{name}.log"

    def _spawn(self, argv: list[str]) -> None:
        if self.pinned:
            argv = ["taskset", "-c", SERVER_CPU, *argv]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL,
                                            stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self.pid = self.process.pid  # taskset execs the interpreter: the same process

    async def ready(self, timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout), aiohttp.ClientSession() as session:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.log.stem} exited:\n{self.tail()}")
                try:
                    async with session.get(self.url + "/readyz") as reply:
                        if reply.status in self.ready_statuses:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)

    def cpu(self) -> float:
        return procstat.cpu_seconds(self.pid)

    def kernel_cpu(self) -> float:
        return procstat.kernel_cpu_seconds(self.pid)

    def context_switches(self) -> int:
        return procstat.context_switches(self.pid)

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


class DaemonProcess(SidecarProcess):
    """`python -m component` with a written config; SIGTERM drains it. With `redis_url`, one
    of several daemons on the domain (`xmpp.balanced`), its state shared there (`[shared]`)."""

    ready_statuses = (200,)  # /readyz: once the component link is up

    def __init__(self, server: EjabberdServer, workdir: Path, name: str, *, durable: bool,
                 pinned: bool, store: Path | None = None, carbons: bool = True,
                 redis_url: str | None = None) -> None:
        super().__init__(workdir, name, pinned=pinned)
        config = workdir / f"{name}.toml"
        store = store or workdir / f"{name}.db"
        xmpp = [] if carbons else ["carbons = false"]
        extra = ["[delivery]", f"durable = {'true' if durable else 'false'}", ""]
        if redis_url is not None:
            xmpp.append("balanced = true")
            extra += ["[shared]", f"redis_url = {json.dumps(redis_url)}", ""]
        config.write_text(config_toml(server, http_port=self.port, store=store, xmpp=xmpp,
                                      extra=extra))
        self._spawn([sys.executable, "-m", "component", "--config", str(config)])


class FloorProcess(SidecarProcess):
    """A floor reference (`bench.floor_aiohttp`, `bench.floor_httptools`,
    `bench.floor_durable`) on the round's component domain: it opens its link before it
    listens."""

    def __init__(self, server: EjabberdServer, workdir: Path, name: str, *, module: str,
                 shape: str, pinned: bool) -> None:
        super().__init__(workdir, name, pinned=pinned)
        self._spawn([sys.executable, "-m", module, "--port", str(self.port),
                     "--component-port", str(server.component_port),
                     "--domain", server.component_domain, "--secret", server.secret,
                     "--server", server.host, "--store", str(workdir / f"{name}.db"),
                     "--shape", shape])


def start_sidecar(server: EjabberdServer, scenario: Scenario, workdir: Path, name: str, *,
                  pinned: bool) -> SidecarProcess | None:
    """A fresh process for one run alone: the daemon, a floor reference, or none (ejabberd's
    own API, the raw link)."""
    if scenario.target == "floor":
        return FloorProcess(server, workdir, name, module=scenario.floor, shape=scenario.shape,
                            pinned=pinned)
    if scenario.target == "daemon":
        return DaemonProcess(server, workdir, name, durable=scenario.durable,
                             carbons=scenario.carbons, pinned=pinned,
                             store=workdir / "group.db" if scenario.group else None)
    return None
