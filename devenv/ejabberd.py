"""An isolated Debian ejabberd 23.01 on loopback, for tests and the demo.

`erl` is launched directly with the flags `ejabberdctl` would use, but with a private node name,
cookie, Mnesia spool, config and log under one work directory, Erlang distribution on a loopback
port and no epmd. Users and vCards are seeded through mod_http_api (a few ms per call), not
`ejabberdctl`, which boots a VM per call. Stdlib only, so it runs before any venv exists.

    python -m devenv.ejabberd --users test1:pw1,test2:pw2   # foreground until SIGTERM/SIGINT
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import secrets
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from string import Template
from typing import Any

from devenv.proc import (
    LOOPBACK,
    POLL_INTERVAL,
    ServerProcess,
    free_ports,
    wait_for_ports,
)

TEMPLATE = Path(__file__).with_name("ejabberd.yml.tmpl")
APP_GLOB = "/usr/lib/*/ejabberd-*/ebin/ejabberd.app"
# Loopback only, and no DNS: the node name's "localhost" resolves from this file alone.
INETRC = '{lookup,["file"]}.\n{host,{127,0,0,1},["localhost"]}.\n'
STOP_GRACE = 15.0
OBSERVER = "admin"  # a MUC service admin too: tests read any room's affiliations over XMPP


class EjabberdApiError(RuntimeError):
    """mod_http_api answered with a non-200 status."""

    def __init__(self, command: str, status: int, body: str) -> None:
        super().__init__(f"ejabberd api {command}: HTTP {status}: {body}")
        self.status, self.body = status, body


def _erl_libs() -> str | None:
    """The multiarch dir holding ejabberd-<version>/ (Debian: /usr/lib/<triplet>)."""
    apps = sorted(glob.glob(APP_GLOB))
    return str(Path(apps[-1]).parents[2]) if apps else None


def installed() -> bool:
    """True if `erl` and Debian's ejabberd application are both present."""
    return shutil.which("erl") is not None and _erl_libs() is not None


class EjabberdServer(ServerProcess):
    """One ejabberd node: `start()`, `stop()`, `kill()`, `restart()`, or use it as a context."""

    kind = name = "ejabberd"
    stop_grace = STOP_GRACE  # SIGTERM: Erlang runs init:stop
    log_files = ("logs/ejabberd.log", "erl.out")

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        host: str = "qtalk.test.org",
        extra_hosts: Sequence[str] = (),
        component_domain: str = "api.qtalk.test.org",
        secret: str | None = None,
        c2s_port: int = 0,
        component_port: int = 0,
        http_port: int = 0,
        mam: bool = False,
        room_mam: bool = True,
        erl_flags: Sequence[str] = (),
        cpus: str | None = None,
        component_connections: int = 1,
    ) -> None:
        """`room_mam`: rooms archive by default; `erl_flags` go to `erl` (say `+S 1:1`);
        `cpus` runs the VM under `taskset -c cpus` (benchmarks pin the server side);
        `component_connections` > 1 balances the component domain over that many links."""
        super().__init__(workdir, "qtalk-ejabberd-")
        self.host, self.extra_hosts = host, tuple(extra_hosts)
        self.muc_domain = f"conference.{host}"
        self.component_domain = component_domain
        self.secret = secret or secrets.token_hex(16)
        self.mam, self.room_mam = mam, room_mam
        self.erl_flags, self.cpus = tuple(erl_flags), cpus
        self.component_connections = component_connections
        picked = iter(free_ports(4))
        self.c2s_port = c2s_port or next(picked)
        self.component_port = component_port or next(picked)
        self.http_port = http_port or next(picked)
        self.dist_port = next(picked)

    @property
    def hosts(self) -> tuple[str, ...]:
        return (self.host, *self.extra_hosts)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            raise RuntimeError("ejabberd is already running")
        libs = _erl_libs()
        if libs is None or shutil.which("erl") is None:
            raise RuntimeError("ejabberd is not installed (run `make servers`)")
        self._prepare_workdir()
        began = time.monotonic()
        self._spawn(self._argv(), self._env(libs), "erl.out")
        try:
            wait_for_ports((self.c2s_port, self.component_port, self.http_port), timeout,
                           lambda: self.running, "ejabberd")
            self._wait_started(began + timeout)
        except (RuntimeError, TimeoutError) as exc:
            self.kill()
            raise RuntimeError(f"{exc}\n--- ejabberd log tail ---\n{self.log_tail()}") from exc
        self.startup_seconds = time.monotonic() - began

    def _wait_started(self, deadline: float) -> None:
        """Poll `status` until the ejabberd application reports itself started.

        Open ports are not enough: ejabberd 23.01 binds its listeners while still creating its
        Mnesia tables (the kernel then queues our probe connections), and a SIGTERM in that
        window crashes Mnesia and makes shutdown take ~13 s.
        """
        while True:
            try:
                if "is running" in str(self._post("status", {}, timeout=2.0)):
                    return
            except (OSError, EjabberdApiError):
                pass  # HTTP handler or command table not up yet
            if not self.running:
                raise RuntimeError("ejabberd exited while starting")
            if time.monotonic() > deadline:
                raise TimeoutError("ejabberd did not report itself started in time")
            time.sleep(POLL_INTERVAL)

    # -- administration ----------------------------------------------------------------------

    def api(self, command: str, **args: Any) -> Any:
        """Call a mod_http_api command and return its decoded JSON result."""
        return self._post(command, args, timeout=30.0)

    def _post(self, command: str, args: dict[str, Any], timeout: float) -> Any:
        request = urllib.request.Request(
            f"http://{LOOPBACK}:{self.http_port}/api/{command}",
            data=json.dumps(args).encode(), headers={"Content-Type": "application/json"},
            method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            raise EjabberdApiError(command, err.code, err.read().decode(errors="replace")) \
                from None

    def register(
        self, user: str, password: str, host: str | None = None, *, exist_ok: bool = False
    ) -> None:
        """Register a user; `exist_ok` tolerates one that a reused workdir already has."""
        try:
            self.api("register", user=user, host=host or self.host, password=password)
        except EjabberdApiError as err:
            if not (exist_ok and err.status == 409):
                raise

    def unregister(self, user: str, host: str | None = None) -> None:
        """Remove an account through the server, as `ejabberdctl unregister` does."""
        self.api("unregister", user=user, host=host or self.host)

    def set_vcard(self, user: str, field: str, value: str, host: str | None = None) -> None:
        self.api("set_vcard", user=user, host=host or self.host, name=field, content=value)

    def offline_count(self, user: str, host: str | None = None) -> int:
        # mod_http_api wraps integer results: {"value": n}.
        return int(self.api("get_offline_count", user=user, host=host or self.host)["value"])

    # -- internals ---------------------------------------------------------------------------

    def _prepare_workdir(self) -> None:
        for sub in ("spool", "logs"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        (self.workdir / "inetrc").write_text(INETRC)
        (self.workdir / "ejabberd.yml").write_text(self.render_config())

    def render_config(self) -> str:
        return Template(TEMPLATE.read_text()).substitute(
            hosts_yaml="\n".join(f"  - {h}" for h in self.hosts),
            c2s_port=self.c2s_port, component_port=self.component_port,
            http_port=self.http_port, component_domain=self.component_domain,
            observer=f"{OBSERVER}@{self.host}",
            secret=self.secret, mam_default="always" if self.mam else "never",
            room_mam="true" if self.room_mam else "false",
            balancing_yaml=self._balancing_yaml())

    def _balancing_yaml(self) -> str:
        """Several daemons on one domain: each full JID of the domain is pinned to one link
        (type destination), which lets each daemon find a resource that routes back to it.
        component_number is required: without it ejabberd 23.01 crashes the session."""
        if self.component_connections <= 1:
            return ""
        return (f"domain_balancing:\n  \"{self.component_domain}\":\n    type: destination\n"
                f"    component_number: {self.component_connections}\n")

    def _node(self) -> str:
        """A random node name, kept in the workdir: Mnesia's schema is tied to it."""
        path = self.workdir / "node"
        if not path.exists():
            path.write_text(f"ejt{secrets.token_hex(6)}@localhost")
        return path.read_text().strip()

    def _argv(self) -> list[str]:
        pin = ["taskset", "-c", self.cpus] if self.cpus is not None else []
        return [
            *pin, "erl", *self.erl_flags,
            "+K", "true", "+P", "250000", "-env", "ERL_CRASH_DUMP_BYTES", "0",
            "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
            "-mnesia", "dir", f'"{self.workdir / "spool"}"',
            *self._node_args(),
            "-s", "ejabberd", "-noinput",
        ]

    def _node_args(self) -> list[str]:
        """Name, cookie and distribution of a node that talks to no other: its distribution
        port doubles as its "epmd port", so no epmd runs (devenv/ejabberd_cluster.py: a
        cluster's nodes need one). Run before `-s ejabberd`."""
        return ["-sname", self._node(), "-setcookie", secrets.token_hex(16),
                "-erl_epmd_port", str(self.dist_port), "-start_epmd", "false"]

    def _env(self, erl_libs: str) -> dict[str, str]:
        w = self.workdir
        # HOME=workdir keeps erl away from ~/.erlang.cookie and ~/.ejabberd-modules.
        return {
            **os.environ, "HOME": str(w), "ERL_LIBS": erl_libs,
            "EJABBERD_CONFIG_PATH": str(w / "ejabberd.yml"),
            "EJABBERD_LOG_PATH": str(w / "logs" / "ejabberd.log"),
            "EJABBERD_PID_PATH": str(w / "ejabberd.pid"),
            "ERL_INETRC": str(w / "inetrc"), "ERL_CRASH_DUMP": str(w / "logs" / "erl_crash.dump"),
            "CONTRIB_MODULES_PATH": str(w / "modules"),
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workdir", type=Path)
    for name in ("c2s", "component", "http"):
        parser.add_argument(f"--{name}-port", type=int, default=0)
    parser.add_argument("--secret")
    parser.add_argument("--users", default="", help="user:password,user:password")
    parser.add_argument("--extra-host", action="append", default=[])
    parser.add_argument("--mam", action="store_true", help="archive users' messages")
    args = parser.parse_args(argv)
    server = EjabberdServer(
        args.workdir, extra_hosts=args.extra_host, secret=args.secret, mam=args.mam,
        c2s_port=args.c2s_port, component_port=args.component_port, http_port=args.http_port)
    return server.serve(args.users, ("host", "muc_domain", "component_domain", "secret",
                                      "c2s_port", "component_port", "http_port", "workdir",
                                      "pid"))


if __name__ == "__main__":
    sys.exit(main())
