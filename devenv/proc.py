"""Small process and port helpers shared by the dev servers, the demo and their CLIs.

Stdlib only. Everything binds or connects to 127.0.0.1 and nothing else.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable

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
