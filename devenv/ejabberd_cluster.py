"""Two (or more) Debian ejabberd 23.01 nodes on loopback joined into one Mnesia cluster.

Each node is an `EjabberdServer` with its own c2s, component and HTTP listeners, the same
hosts, component domain and secret, and `domain_balancing` over one component link per node.
What the single node does without epmd (`-erl_epmd_port`) cannot work here: that port is
also where a node looks for its peers. So the cluster runs a private `epmd -port N` bound to
127.0.0.1, and every node finds it through `ERL_EPMD_PORT=N`; the nodes are
`ejabberd1@127.0.0.1`, `ejabberd2@127.0.0.1`... (long names), share one cookie given with
`-setcookie` (no cookie file), and listen for distribution on one free loopback port each.

A node after the first joins at boot, before ejabberd starts: `mnesia:start()` on its empty
spool, `extra_db_nodes` set to the first node, then its schema made a disc copy (without
that, ejabberd's disc tables fail with "has no disc"). ejabberd then adds its own table
copies. A node killed and started again on the same spool rejoins by itself. Stdlib only.

    python -m devenv.ejabberd_cluster --users bob:pw   # foreground until SIGTERM/SIGINT
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from devenv.ejabberd import EjabberdServer
from devenv.proc import LOOPBACK, POLL_INTERVAL, ServerProcess, free_ports, wait_for_ports


def installed() -> bool:
    from devenv.ejabberd import installed as ejabberd_installed
    return ejabberd_installed() and shutil.which("epmd") is not None


class Epmd(ServerProcess):
    """A private Erlang port mapper on 127.0.0.1 and a free port, for one cluster."""

    name = "epmd"
    stop_grace = 5.0
    log_files = ("epmd.out",)

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, "qc-epmd-")
        (self.port,) = free_ports(1)

    def start(self, timeout: float = 10.0) -> None:
        binary = shutil.which("epmd")
        if binary is None:
            raise RuntimeError("epmd is not installed (run `make servers`)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._spawn([binary, "-port", str(self.port), "-address", LOOPBACK], None, "epmd.out")
        wait_for_ports([self.port], timeout, lambda: self.running, self.name)


class ClusterNode(EjabberdServer):
    """One node of an `EjabberdCluster`: a fixed long name, the cluster's cookie and epmd."""

    def __init__(self, workdir: Path, index: int, *, epmd_port: int, cookie: str,
                 seed: str | None, **options: Any) -> None:
        super().__init__(workdir, **options)
        self.index, self.epmd_port, self.cookie, self.seed = index, epmd_port, cookie, seed
        self.name = f"ejabberd{index}"

    @property
    def node(self) -> str:
        return f"ejabberd{self.index}@{LOOPBACK}"

    def _node(self) -> str:
        return self.node

    def _node_args(self) -> list[str]:
        args = ["-name", self.node, "-setcookie", self.cookie, "-start_epmd", "false",
                "-kernel", "inet_dist_listen_min", str(self.dist_port),
                "-kernel", "inet_dist_listen_max", str(self.dist_port)]
        if self.seed is not None:
            # Idempotent: on a spool that already holds a disc schema the last step answers
            # {aborted, already_exists}, and Mnesia reconnects to its peers by itself.
            args += ["-eval", f"mnesia:start(), "
                              f"mnesia:change_config(extra_db_nodes, ['{self.seed}']), "
                              f"mnesia:change_table_copy_type(schema, node(), disc_copies)"]
        return args

    def _env(self, erl_libs: str) -> dict[str, str]:
        return {**super()._env(erl_libs), "ERL_EPMD_PORT": str(self.epmd_port)}

    def cluster_members(self) -> list[str]:
        """The nodes this one's Mnesia is running with (ejabberd's `list_cluster`)."""
        return sorted(self.api("list_cluster"))


class EjabberdCluster:
    """`start()`, `close()`, or use it as a context; `nodes[i]` is each node's server."""

    def __init__(self, size: int = 2, workdir: Path | None = None, *,
                 extra_hosts: Sequence[str] = (), secret: str | None = None,
                 **options: Any) -> None:
        """`options` go to every node's `EjabberdServer` (say `room_mam=False`)."""
        self._owns_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="qc-ejcluster-")) if workdir is None \
            else workdir.resolve()
        self.epmd = Epmd(self.workdir / "epmd")
        cookie, secret = secrets.token_hex(16), secret or secrets.token_hex(16)
        self.nodes: list[ClusterNode] = []
        for index in range(1, size + 1):
            self.nodes.append(ClusterNode(
                self.workdir / f"node{index}", index, epmd_port=self.epmd.port, cookie=cookie,
                seed=self.nodes[0].node if self.nodes else None, extra_hosts=extra_hosts,
                secret=secret, component_connections=size, **options))
        self.startup_seconds = 0.0

    @property
    def host(self) -> str:
        return self.nodes[0].host

    def start(self, timeout: float = 60.0) -> None:
        began = time.monotonic()
        try:
            self.epmd.start()
            for node in self.nodes:
                node.workdir.mkdir(parents=True, exist_ok=True)
                node.start()
            self.wait_joined(began + timeout)
        except BaseException:
            self.close()
            raise
        self.startup_seconds = time.monotonic() - began

    def wait_joined(self, deadline: float) -> None:
        """Until every node lists every node as running in its Mnesia cluster."""
        want = sorted(node.node for node in self.nodes)
        while True:
            seen = [node.cluster_members() for node in self.nodes]
            if all(members == want for members in seen):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the cluster did not join: {seen}, want {want}")
            time.sleep(POLL_INTERVAL * 5)

    def register(self, user: str, password: str, host: str | None = None, *,
                 exist_ok: bool = False) -> None:
        """Accounts live in the shared Mnesia: registered once, known on every node."""
        self.nodes[0].register(user, password, host, exist_ok=exist_ok)

    def close(self) -> None:
        for node in reversed(self.nodes):
            node.close()
        self.epmd.close()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(f"--- {node.node} ---\n{node.log_tail(n)}" for node in self.nodes)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=2)
    parser.add_argument("--users", default="", help="user:password,user:password")
    args = parser.parse_args(argv)
    from devenv.proc import wait_for_signal
    with EjabberdCluster(args.size) as cluster:
        for pair in filter(None, args.users.split(",")):
            user, _, password = pair.partition(":")
            cluster.register(user, password, exist_ok=True)
        print(json.dumps({
            "host": cluster.host, "component_domain": cluster.nodes[0].component_domain,
            "secret": cluster.nodes[0].secret, "workdir": str(cluster.workdir),
            "nodes": [{"node": n.node, "c2s_port": n.c2s_port,
                       "component_port": n.component_port, "http_port": n.http_port}
                      for n in cluster.nodes]}), flush=True)
        children = {n.node: n.process for n in cluster.nodes if n.process is not None}
        print(f"stopping the cluster: {wait_for_signal(children)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
