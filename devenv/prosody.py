"""An isolated Debian Prosody 0.12 on loopback, for tests: the twin of devenv/ejabberd.py.

`prosody --config FILE -F` runs in the foreground with its config, data, pid file and logs
under one work directory; it is ready in about 0.1 s and stops at once on SIGTERM (Debian's
init script cannot stop it: reference xmpp-servers.md §1). Accounts and vCards are files of
Prosody's internal storage, written here directly: Prosody reads them at every login and every
vCard query, so this works while it runs and costs no subprocess. Stdlib only.

    python -m devenv.prosody --users test1:pw1,test2:pw2   # foreground until SIGTERM/SIGINT
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from string import Template

from devenv.proc import ServerProcess, free_ports, wait_for_ports

TEMPLATE = Path(__file__).with_name("prosody.cfg.lua.tmpl")
STOP_GRACE = 10.0
OBSERVER = "admin"  # a server admin, hence admin of the MUC service: tests read rooms


def installed() -> bool:
    return shutil.which("prosody") is not None


def _encode(name: str) -> str:
    """A path segment as Prosody's datamanager writes it: every byte outside [A-Za-z0-9]
    as %xx (lower-case hex)."""
    return "".join(chr(b) if chr(b).isascii() and chr(b).isalnum() else f"%{b:02x}"
                   for b in name.encode())


def _lua(text: str) -> str:
    """A Lua string literal: quotes, backslashes and control characters escaped."""
    def escape(match: re.Match[str]) -> str:
        return f"\\{ord(match.group()):03d}"

    return '"' + re.sub(r'[\x00-\x1f"\\\x7f]', escape, text) + '"'


class ProsodyError(RuntimeError):
    pass


class ProsodyServer(ServerProcess):
    """One Prosody: `start()`, `stop()`, `kill()`, `restart()`, or use it as a context.
    SIGTERM stops it (it saves its rooms first), in well under a second."""

    kind = name = "prosody"
    stop_grace = STOP_GRACE
    log_files = ("prosody.log", "error.log", "prosody.out")

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
        debug_log: bool = False,
    ) -> None:
        super().__init__(workdir, "qtalk-prosody-")
        self.host, self.extra_hosts = host, tuple(extra_hosts)
        self.muc_domain = f"conference.{host}"
        self.component_domain = component_domain
        self.secret = secret or secrets.token_hex(16)
        self.debug_log = debug_log
        picked = iter(free_ports(2))
        self.c2s_port = c2s_port or next(picked)
        self.component_port = component_port or next(picked)
        self._vcards: dict[tuple[str, str], dict[str, str]] = {}

    @property
    def hosts(self) -> tuple[str, ...]:
        return (self.host, *self.extra_hosts)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            raise RuntimeError("prosody is already running")
        binary = shutil.which("prosody")
        if binary is None:
            raise RuntimeError("prosody is not installed (run `make servers`)")
        self._prepare_workdir()
        began = time.monotonic()
        self._spawn([binary, "--config", str(self.workdir / "prosody.cfg.lua"), "-F"], None,
                    "prosody.out")
        try:
            wait_for_ports((self.c2s_port, self.component_port), timeout,
                           lambda: self.running, "prosody")
        except (RuntimeError, TimeoutError) as exc:
            self.kill()
            raise RuntimeError(f"{exc}\n--- prosody log tail ---\n{self.log_tail()}") from exc
        self.startup_seconds = time.monotonic() - began

    # -- administration (files of the internal storage) -------------------------------------

    def _store(self, host: str, store: str) -> Path:
        return self.workdir / "data" / _encode(host) / store

    def register(
        self, user: str, password: str, host: str | None = None, *, exist_ok: bool = False
    ) -> None:
        """Write the account file (internal_plain); `exist_ok` tolerates one already there."""
        host = host or self.host
        if host not in self.hosts:
            raise ProsodyError(f"register: {host} is not a host of this server")
        path = self._store(host, "accounts") / f"{_encode(user)}.dat"
        if path.exists() and not exist_ok:
            raise ProsodyError(f"register: {user}@{host} exists")
        self._write(path, f'return {{\n\t["password"] = {_lua(password)};\n}};\n')

    def unregister(self, user: str, host: str | None = None) -> None:
        """Remove an account with `prosodyctl deluser` (the running server sees it at once)."""
        command = [shutil.which("prosodyctl") or "prosodyctl", "--config",
                   str(self.workdir / "prosody.cfg.lua"), "deluser",
                   f"{user}@{host or self.host}"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise ProsodyError(f"deluser: {done.stdout}{done.stderr}".strip())

    def set_vcard(self, user: str, field: str, value: str, host: str | None = None) -> None:
        """Set one top-level vCard field. Prosody refuses a vCard set for another JID, even
        from a component (§3e), so the stored vCard file is written as mod_vcard would."""
        host = host or self.host
        fields = self._vcards.setdefault((user, host), {})
        fields[field] = value
        children = "".join(f'{{ name = {_lua(name)}; attr = {{}}; {_lua(text)}; }}; '
                           for name, text in fields.items())
        self._write(self._store(host, "vcard") / f"{_encode(user)}.dat",
                    f'return {{ name = "vCard"; attr = {{ xmlns = "vcard-temp" }}; '
                    f'{children}}};\n')

    def offline_count(self, user: str, host: str | None = None) -> int:
        """Messages in the user's offline store (an internal archive: one item per line)."""
        path = self._store(host or self.host, "offline") / f"{_encode(user)}.list"
        if not path.exists():
            return 0
        return sum(1 for line in path.read_text(errors="replace").splitlines()
                   if line.startswith("item("))

    @staticmethod
    def _write(path: Path, text: str) -> None:
        """Atomically: Prosody may read the file at any moment."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".tmp")
        partial.write_text(text)
        os.replace(partial, path)

    # -- internals ---------------------------------------------------------------------------

    def _prepare_workdir(self) -> None:
        for sub in ("data", "certs"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        (self.workdir / "prosody.cfg.lua").write_text(self.render_config())

    def render_config(self) -> str:
        return Template(TEMPLATE.read_text()).substitute(
            workdir=self.workdir, log_level="debug" if self.debug_log else "info",
            admins_lua=_lua(f"{OBSERVER}@{self.host}"),
            c2s_port=self.c2s_port, component_port=self.component_port,
            virtual_hosts="\n".join(f"VirtualHost {_lua(h)}" for h in self.hosts),
            muc_domain=self.muc_domain, component_domain=self.component_domain,
            secret=self.secret)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workdir", type=Path)
    for name in ("c2s", "component"):
        parser.add_argument(f"--{name}-port", type=int, default=0)
    parser.add_argument("--secret")
    parser.add_argument("--users", default="", help="user:password,user:password")
    parser.add_argument("--extra-host", action="append", default=[])
    parser.add_argument("--debug-log", action="store_true")
    args = parser.parse_args(argv)
    server = ProsodyServer(
        args.workdir, extra_hosts=args.extra_host, secret=args.secret,
        c2s_port=args.c2s_port, component_port=args.component_port, debug_log=args.debug_log)
    return server.serve(args.users, ("host", "muc_domain", "component_domain", "secret",
                                      "c2s_port", "component_port", "workdir", "pid"))


if __name__ == "__main__":
    sys.exit(main())
