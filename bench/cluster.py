"""`python -m bench.cluster`: one daemon against two on a two-node ejabberd cluster (issue 15).

Starts the cluster (devenv/ejabberd_cluster.py; MAM off, as bench.run's ejabberd) and a Redis,
and logs in test2 on node 1 and test3 on node 2 (bench.xmpp.Receiver). Every request is
bench.scenarios' `send_message` with one recipient, test2 and test3 in turn, so half of what
each daemon sends crosses to the other node. Each round runs, interleaved (reversed every other
round), with every daemon started afresh for its run, all of them `xmpp.balanced` with
`[shared] redis_url`:

    one         daemon A beside node 1, wrk -c16 at it
    two-lb      A beside node 1 and B beside node 2, wrk -c16 at the round-robin balancer
                (tests/integration/balancer.py, a process of its own: its CPU shows apart)
    two-direct  A and B, one wrk -c8 at each, no balancer: what the balancer costs

Delivered is counted at the receivers over wrk's window; lost is answered minus received after
a drain; the CPU of each process over the window from /proc (bench.procstat). The section
"One daemon against two on a two-node cluster" of bench/RESULTS.md is replaced (or appended);
the rest of that file is left as it is.

    python -m bench.cluster --rounds 2 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import uvloop

from bench import loadproc, procstat, report, wrk
from bench.measure import Record, drain
from bench.scenarios import ALL, SENDER, Hosts
from bench.servers import DaemonProcess
from bench.xmpp import Receiver
from devenv.ejabberd_cluster import EjabberdCluster, installed
from devenv.proc import free_ports
from devenv.redis import RedisServer
from devenv.redis import installed as redis_installed

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "run" / "bench" / "cluster"
TITLE = "## One daemon against two on a two-node cluster"
RECIPIENTS = ("test2", "test3")  # on node 1, on node 2
CONFIGS = {
    "one": "daemon A beside node 1; wrk -c16 at A",
    "two-lb": "A beside node 1, B beside node 2; wrk -c16 at the round-robin balancer",
    "two-direct": "A and B; one wrk -c8 at each, no balancer",
}
PROCESSES = ("daemon_a", "daemon_b", "node1", "node2", "balancer", "wrk", "receivers",
             "redis")


class Bench:
    def __init__(self, workdir: Path, seconds: float, max_drain: float) -> None:
        self.workdir, self.seconds, self.max_drain = workdir, seconds, max_drain
        self.cluster = EjabberdCluster(2, workdir / "cluster", room_mam=False)
        self.redis = RedisServer(workdir / "redis")
        self.receivers: list[Receiver] = []

    async def start(self) -> None:
        await asyncio.to_thread(self.cluster.start)
        self.redis.workdir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.redis.start)
        for user in (SENDER, *RECIPIENTS):
            self.cluster.register(user, user)
        self.receivers = [await Receiver.login(node.c2s_port, user, self.cluster.host, user)
                          for node, user in zip(self.cluster.nodes, RECIPIENTS, strict=True)]
        scenario = ALL["qm16"]
        payload = json.loads(scenario.body(Hosts(self.cluster.host, "")))
        self.script = wrk.write_script(self.workdir, "cluster", *(
            json.dumps({**payload, "To": [{"User": user}]}, separators=(",", ":")).encode()
            for user in RECIPIENTS))
        self.path = scenario.path

    async def close(self) -> None:
        for receiver in self.receivers:
            await receiver.close()
        await asyncio.to_thread(self.redis.close)
        await asyncio.to_thread(self.cluster.close)

    async def run(self, cfg: str, index: int) -> Record:
        name = f"{cfg}-r{index}"
        daemons = [DaemonProcess(node, self.workdir, f"{name}-{side}", durable=True,
                                 pinned=False, redis_url=self.redis.url(3))
                   for node, side in zip(self.cluster.nodes[:1 if cfg == "one" else 2], "ab",
                                         strict=False)]
        balancer: asyncio.subprocess.Process | None = None
        try:
            await asyncio.gather(*(d.ready() for d in daemons))
            if cfg == "two-lb":
                (port,) = free_ports(1)
                balancer = await loadproc.start("tests.integration.balancer", "--port",
                                                str(port), *(d.url for d in daemons))
                targets = [(f"http://127.0.0.1:{port}", 16)]
            elif cfg == "one":
                targets = [(daemons[0].url, 16)]
            else:
                targets = [(d.url, 8) for d in daemons]
            return await self._measure(cfg, index, daemons, balancer, targets)
        finally:
            if balancer is not None:
                balancer.terminate()
                await balancer.wait()
            await asyncio.gather(*(d.stop() for d in daemons))

    async def _measure(self, cfg: str, index: int, daemons: list[DaemonProcess],
                       balancer: asyncio.subprocess.Process | None,
                       targets: list[tuple[str, int]]) -> Record:
        clocks = self._clocks(daemons, balancer)
        for receiver in self.receivers:
            receiver.counter.reset()
        wrk_a = procstat.children_cpu_seconds(os.getpid())
        processes = [await wrk.start(url + self.path, self.script, connections=connections,
                                     seconds=self.seconds) for url, connections in targets]
        ours = procstat.descendants(os.getpid())
        a, cpu_a = procstat.sample(ours), {k: clock() for k, clock in clocks.items()}
        count_a = sum(r.counter.count for r in self.receivers)
        results = [await wrk.finish(process) for process in processes]
        b, cpu_b = procstat.sample(ours), {k: clock() for k, clock in clocks.items()}
        count_b = sum(r.counter.count for r in self.receivers)
        window = b.at - a.at
        answered = sum(r.ok for r in results)
        record: Record = {
            "cfg": cfg, "round": index, "window_s": window, "answered": answered,
            "errors": sum(r.errors for r in results), "non2xx": sum(r.non2xx for r in results),
            "answered_per_s": answered / window,
            "delivered_per_s": (count_b - count_a) / window,
            "http_p99": max(r.p99_ms for r in results),
            "wrk_cores": (procstat.children_cpu_seconds(os.getpid()) - wrk_a) / window,
            **{f"{k}_cores": (cpu_b[k] - cpu_a[k]) / window for k in clocks},
            **procstat.window(a, b)}
        record["busy_cores"] = sum(v for k, v in record.items()
                                   if k.startswith("cpu") and k.endswith("_util"))
        record.update(await drain(self.receivers, expected=answered, max_drain=self.max_drain))
        record["lost"] = max(0, answered - record["delivered"])
        return record

    def _clocks(self, daemons: list[DaemonProcess], balancer: asyncio.subprocess.Process | None
                ) -> dict[str, Callable[[], float]]:
        """CPU seconds so far of each process of the run (wrk's are counted once reaped)."""
        def tree(pid: int) -> Callable[[], float]:
            pids = procstat.descendants(pid)
            return lambda: sum(procstat.cpu_seconds(p) for p in pids)

        clocks = {f"daemon_{side}": d.cpu for d, side in zip(daemons, "ab", strict=False)}
        clocks |= {f"node{n.index}": tree(n.pid or 0) for n in self.cluster.nodes}
        clocks["redis"] = tree(self.redis.pid or 0)
        clocks["receivers"] = lambda: procstat.cpu_seconds(os.getpid())
        if balancer is not None:
            clocks["balancer"] = lambda: procstat.cpu_seconds(balancer.pid)
        return clocks


def section(meta: dict[str, str], records: list[Record]) -> str:
    m = procstat.machine()
    groups = report.by_cfg(records)

    def cell(rows: list[Record], key: str) -> str:
        return report.spread([r[key] for r in rows if key in r]) if any(
            key in r for r in rows) else "–"

    head = ["cfg", "what", "delivered msgs/s", "answered/s", "lost", "p99 ms",
            *(p.replace("_", " ") for p in PROCESSES), "all busy", "foreign", "steal"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for cfg, what in CONFIGS.items():
        rows = groups.get(cfg, [])
        if not rows:
            continue
        lines.append("| " + " | ".join([
            cfg, what, cell(rows, "delivered_per_s"), cell(rows, "answered_per_s"),
            ", ".join(str(r["lost"]) for r in rows), cell(rows, "http_p99"),
            *(cell(rows, f"{p}_cores") for p in PROCESSES), cell(rows, "busy_cores"),
            cell(rows, "foreign_cores"), cell(rows, "steal_cores")]) + " |")
    ratios = []
    for cfg in ("two-lb", "two-direct"):
        paired = [r["delivered_per_s"] / one[0]["delivered_per_s"] for r in groups.get(cfg, [])
                  if (one := [o for o in groups.get("one", []) if o["round"] == r["round"]])]
        ratios.append(f"{cfg} / one {report.spread(paired)}")
    return f"""{TITLE}

Generated by `{meta['command']}` ({meta['started']}; rounds: {meta['rounds']},
{meta['seconds']} s of load per configuration, interleaved, reversed every other round; see the
docstring of `bench/cluster.py`). Two Debian ejabberd {m['ejabberd']} nodes in one Mnesia
cluster on loopback (MAM off), Redis, daemons as `python -m component` (outbox on, carbons
on, `xmpp.balanced`, `[shared] redis_url`), each started afresh per run; our `send_message`
from test1 to one recipient, test2 (online on node 1) and test3 (online on node 2) in turn;
delivered counted by those two clients over wrk's window, lost = answered − received after a
drain. Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram']} RAM, Linux {m['kernel']},
Python {m['python']}, {m['wrk']}; load average {meta['load_before']} before,
{meta['load_after']} after. Unpinned.

**What this machine can and cannot show.** All of it shares the same {m['nproc']} cores: two
ejabberd nodes, one or two daemons, the balancer, wrk and the receivers. A second daemon can
only raise throughput here as far as one daemon's single thread was the limit while the cores
still had room; it cannot show what a second machine adds, since the second node and daemon
take their cores from the first. The cores columns (CPU of each process over the window, from
/proc; `all busy` both CPUs together, at most {m['nproc']}; `foreign` what processes not
started by this bench used meanwhile: the machine is shared) say where the time went.
Medians with [min–max] over rounds; lost per round.

{chr(10).join(lines)}

Delivered, paired per round: {'; '.join(ratios)}. The balancer is
`tests/integration/balancer.py` (an aiohttp server and client in Python, on uvloop), a process
of its own; a production balancer (nginx, HAProxy) costs far less per request.
"""


def write_section(path: Path, text: str) -> None:
    """Replace this bench's section of `path`, or append it; leave the rest alone."""
    old = path.read_text() if path.exists() else ""
    if TITLE in old:
        start = old.index(TITLE)
        end = old.find("\n## ", start + len(TITLE))
        old = old[:start].rstrip("\n") + ("\n\n" + old[end + 1:] if end >= 0 else "")
    path.write_text(old.rstrip("\n") + "\n\n" + text if old.strip() else text)


async def main_async(args: argparse.Namespace) -> int:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    meta = {"command": "python -m bench.cluster " + " ".join(sys.argv[1:]),
            "started": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "rounds": str(args.rounds), "seconds": f"{args.seconds:g}",
            "load_before": procstat.loadavg()}
    bench = Bench(WORK, args.seconds, args.max_drain)
    records: list[Record] = []
    try:
        await bench.start()
        for index in range(args.rounds):
            order = list(CONFIGS) if index % 2 == 0 else list(reversed(CONFIGS))
            for cfg in order:
                record = await bench.run(cfg, index)
                records.append(record)
                print(f"round {index} {cfg:10} " + " ".join(
                    f"{k}={report.fmt(record[k])}" for k in (
                        "delivered_per_s", "answered_per_s", "lost", "daemon_a_cores",
                        "daemon_b_cores", "node1_cores", "node2_cores", "balancer_cores",
                        "busy_cores", "foreign_cores") if k in record), flush=True)
    finally:
        await bench.close()
    meta["load_after"] = procstat.loadavg()
    (WORK / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    text = section(meta, records)
    print("\n" + text)
    write_section(args.results, text)
    print(f"results: {args.results}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="each run's load")
    parser.add_argument("--max-drain", type=float, default=60.0)
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args(argv)
    if not installed() or not redis_installed():
        print("ejabberd, epmd or redis-server is not installed: `make servers`", file=sys.stderr)
        return 1
    if not wrk.available():
        print("wrk is not installed: `bash devenv/install-deps.sh bench`", file=sys.stderr)
        return 1
    return uvloop.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
