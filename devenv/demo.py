"""`python -m devenv.demo` (or `make demo`): ejabberd plus the daemon on loopback, to try by hand.

Starts an isolated ejabberd in run/demo/ on fixed ports (c2s 15222, component 15347, HTTP API
15280) with users test1, test2 and test3 (password = name), writes run/demo/config.toml, starts
`python -m component` against it, prints a curl line to try, and stops both on Ctrl-C. Every run
starts from an empty run/demo/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from devenv.ejabberd import EjabberdServer, installed
from devenv.proc import LOOPBACK, accepts, terminate, wait_for_ports, wait_for_signal
from devenv.servers import XmppServer

ROOT = Path(__file__).resolve().parents[1]
WORKDIR = Path("run/demo")  # relative to ROOT, which is the daemon's working directory
C2S_PORT, COMPONENT_PORT, ADMIN_PORT, API_PORT = 15222, 15347, 15280, 10050
USERS = ("test1", "test2", "test3")


def config_toml(server: XmppServer, *, http_port: int = API_PORT,
                store: Path = WORKDIR / "qtalk-component.db", xmpp: Sequence[str] = (),
                extra: Sequence[str] = ()) -> str:
    """The daemon's config file for this server (the contract of component/config.py);
    `xmpp` lines go into its [xmpp] table, `extra` lines are appended (bench: `[delivery]`
    `durable = false`)."""
    def s(text: str) -> str:
        return json.dumps(text)  # a JSON string is a valid TOML basic string

    return "\n".join([
        "# Written by devenv/demo.py for a throw-away loopback ejabberd; rewritten every run.",
        "[xmpp]",
        f"server = {s(LOOPBACK)}",
        f"port = {server.component_port}",
        f"domain = {s(server.component_domain)}",
        f"secret = {s(server.secret)}",
        f"hosts = [{', '.join(s(h) for h in server.hosts)}]",
        f"muc_domain = {s(server.muc_domain)}",
        f"server_kind = {s(server.kind)}",
        *xmpp,
        "",
        "[http]",
        f"bind = {s(LOOPBACK)}",
        f"port = {http_port}",
        "",
        "[store]",
        f"path = {s(str(store))}",
        "",
        *extra,
    ])


def instructions(server: EjabberdServer) -> str:
    body = json.dumps({"From": "test1", "To": [{"User": "test2"}], "Body": "hello from the demo"},
                      separators=(",", ":"))
    return f"""
Ready. Send a message from test1 to test2 through the daemon:

  curl -sS -X POST http://{LOOPBACK}:{API_PORT}/qtalk/send_message \\
       -H 'Content-Type: application/json' -d '{body}'

To see it arrive, log in with any XMPP client to {LOOPBACK}:{C2S_PORT} as
test2@{server.host}, password test2 (plaintext: allow PLAIN without TLS; loopback only).
Logs: {WORKDIR}/daemon.log, {WORKDIR}/logs/ejabberd.log. Ctrl-C stops both.
"""


def start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        # Its own session, so Ctrl-C reaches only us and we stop the daemon before ejabberd.
        return subprocess.Popen(
            [sys.executable, "-m", "component", "--config", str(config)], cwd=ROOT,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)


def wait_ready(timeout: float) -> None:
    """Poll /readyz until the daemon's component link is up (HTTP comes up before it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{LOOPBACK}:{API_PORT}/readyz", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    raise TimeoutError("qtalk-component's component link did not come up; see its log")


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) \
        if path.exists() else "(no output)"


def main() -> int:
    if not installed():
        print("ejabberd is not installed: run `make servers` first.", file=sys.stderr)
        return 1
    busy = [p for p in (C2S_PORT, COMPONENT_PORT, ADMIN_PORT, API_PORT) if accepts(p)]
    if busy:
        print(f"ports {busy} are in use on {LOOPBACK} (another demo running?)", file=sys.stderr)
        return 1
    workdir = ROOT / WORKDIR
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    server = EjabberdServer(workdir, c2s_port=C2S_PORT, component_port=COMPONENT_PORT,
                            http_port=ADMIN_PORT)
    with server:
        print(f"ejabberd up in {server.startup_seconds:.1f} s", file=sys.stderr)
        for user in USERS:
            server.register(user, user)
        (workdir / "config.toml").write_text(config_toml(server))
        return run_daemon(server, workdir)


def run_daemon(server: EjabberdServer, workdir: Path) -> int:
    log = workdir / "daemon.log"
    daemon = start_daemon(WORKDIR / "config.toml", log)
    try:
        wait_for_ports([API_PORT], 30, lambda: daemon.poll() is None, "qtalk-component")
        wait_ready(30)
    except (RuntimeError, TimeoutError) as exc:
        terminate(daemon, 10)
        print(f"{exc}\n--- {log} ---\n{tail(log)}", file=sys.stderr)
        return 1
    print(instructions(server), flush=True)
    assert server.process is not None
    reason = wait_for_signal({"qtalk-component": daemon, "ejabberd": server.process})
    print(f"stopping: {reason}", file=sys.stderr)
    status = terminate(daemon, 10)
    if status not in (0, -15):
        print(f"qtalk-component exited with {status}\n{tail(log)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
