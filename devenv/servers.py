"""The throw-away servers by kind: what the tests and tools may use of either one.

`new_server("prosody")` or `new_server("ejabberd")` gives a stopped server with the same
surface (`XmppServer`); `kind` is the daemon's `xmpp.server_kind` for it. Stdlib only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from devenv import ejabberd, prosody

KINDS = ("ejabberd", "prosody")
OBSERVER = "admin"  # an account both servers make a MUC service admin (the tests' observer)


class XmppServer(Protocol):
    kind: str
    workdir: Path
    host: str
    muc_domain: str
    component_domain: str
    secret: str
    c2s_port: int
    component_port: int

    @property
    def hosts(self) -> tuple[str, ...]: ...

    @property
    def running(self) -> bool: ...

    def start(self, timeout: float = 30.0) -> None: ...

    def stop(self) -> None: ...

    def kill(self) -> None: ...

    def restart(self, timeout: float = 30.0) -> None: ...

    def close(self) -> None: ...

    def register(self, user: str, password: str, host: str | None = None, *,
                 exist_ok: bool = False) -> None: ...

    def unregister(self, user: str, host: str | None = None) -> None: ...

    def set_vcard(self, user: str, field: str, value: str, host: str | None = None) -> None: ...

    def offline_count(self, user: str, host: str | None = None) -> int: ...

    def log_tail(self, n: int = 50) -> str: ...


def installed(kind: str) -> bool:
    return ejabberd.installed() if kind == "ejabberd" else prosody.installed()


def new_server(kind: str, *, extra_hosts: Sequence[str] = ()) -> XmppServer:
    """A server of that kind on fresh loopback ports and a fresh work directory."""
    if kind == "ejabberd":
        return ejabberd.EjabberdServer(extra_hosts=extra_hosts)
    if kind == "prosody":
        return prosody.ProsodyServer(extra_hosts=extra_hosts)
    raise ValueError(f"unknown server kind {kind!r}; one of {KINDS}")
