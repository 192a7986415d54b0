"""Small process and port helpers shared by the dev servers, the demo and their CLIs.

Stdlib only. Everything binds or connects to 127.0.0.1 and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

LOOPBACK = "127.0.0.1"
POLL_INTERVAL = 0.02


def free_ports(count: int) -> list[int]:
    """Ports the kernel just handed out on loopback, all distinct.

    Every socket stays bound until all are picked, so one call never returns a port twice. Another
    process may still grab one before our server binds it; tests accept that small race.
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOOPBACK, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def accepts(port: int) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:port right now."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_ports(
    ports: Iterable[int], timeout: float, alive: Callable[[], bool], what: str
) -> None:
    """Poll until every port accepts; raise if `alive()` turns false or time runs out."""
    pending = list(ports)
    deadline = time.monotonic() + timeout
    while pending:
        if not alive():
            raise RuntimeError(f"{what} exited before ports {pending} accepted connections")
        pending = [port for port in pending if not accepts(port)]
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"{what}: ports {pending} not accepting after {timeout:.0f} s")
        if pending:
            time.sleep(POLL_INTERVAL)


def terminate(proc: subprocess.Popen[bytes], grace: float) -> int:
    """SIGTERM a child, wait up to `grace` seconds, then SIGKILL it; return its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def wait_for_signal(children: dict[str, subprocess.Popen[bytes]]) -> str:
    """Block until SIGINT/SIGTERM arrives or a child exits; say which.

    The children run in their own sessions (so a terminal's Ctrl-C does not hit them before we
    can stop them in order); the handlers only record the signal, and the caller cleans up.
    """
    received: list[int] = []

    def record(signum: int, _frame: object) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, record) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not received:
            for name, child in children.items():
                if child.poll() is not None:
                    return f"{name} exited with status {child.returncode}"
            time.sleep(0.2)
        return f"received {signal.Signals(received[0]).name}"
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class ServerProcess:
    """A dev server run as a child in its own session: `start()` (the subclass's), `stop()`,
    `kill()`, `restart()`, `close()` (which also removes a work directory made for it), or use
    it as a context. Signals go to the whole process group."""

    name = "server"
    stop_grace = 15.0
    log_files: tuple[str, ...] = ()  # in the work directory, for log_tail

    def __init__(self, workdir: Path | None, prefix: str) -> None:
        self._owns_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix=prefix)) if workdir is None \
            else workdir.resolve()
        self.startup_seconds = 0.0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._proc

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        raise NotImplementedError

    def register(self, user: str, password: str, host: str | None = None, *,
                 exist_ok: bool = False) -> None:
        raise NotImplementedError

    def serve(self, users: str, keys: Sequence[str]) -> int:
        """The CLIs' foreground run: start, register `user:password,...`, print the `keys`
        attributes as one JSON line, and stop on SIGINT/SIGTERM or if the server exits."""
        with self:
            for pair in filter(None, users.split(",")):
                user, _, password = pair.partition(":")
                self.register(user, password, exist_ok=True)
            print(json.dumps({key: getattr(self, key) for key in keys}, default=str),
                  flush=True)
            assert self._proc is not None
            reason = wait_for_signal({self.name: self._proc})
            print(f"stopping {self.name}: {reason}", file=sys.stderr)
        return 0

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after `stop_grace` seconds."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self._proc.wait(self.stop_grace)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap()

    def kill(self) -> None:
        """SIGKILL the whole group at once, as a crash would (for fault tests)."""
        if self._proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self._reap()

    def restart(self, timeout: float = 30.0) -> None:
        """Stop if running, then start on the same data and ports: users and rooms survive."""
        self.stop()
        self.start(timeout)

    def close(self) -> None:
        self.stop()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def log_tail(self, n: int = 50) -> str:
        """The last n lines of each of the server's log files that has any."""
        parts = []
        for name in self.log_files:
            path = self.workdir / name
            if path.exists():
                lines = path.read_text(errors="replace").splitlines()[-n:]
                if lines:
                    parts.append(f"[{name}]\n" + "\n".join(lines))
        return "\n".join(parts) or "(no log yet)"

    def _spawn(self, argv: list[str], env: dict[str, str] | None, output: str) -> None:
        with open(self.workdir / output, "ab") as out:
            self._proc = subprocess.Popen(
                argv, env=env, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)

    def _reap(self) -> None:
        assert self._proc is not None
        self._proc.wait()
        self._proc = None
