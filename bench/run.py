"""`python -m bench.run` (or `make bench`): the daemon against ejabberd's own API, side by side.

Each round starts an isolated ejabberd on loopback (MAM off for users and rooms), logs in the
receiving clients, then runs every configuration in turn, interleaved, each sidecar started
afresh for its run alone: the daemon (outbox on, or `[delivery] durable = false` for its cost;
carbons on, or off), or a floor reference of issue 13 (bench.floor_aiohttp,
bench.floor_httptools, bench.floor_durable); odd rounds run the list reversed. Load comes from
other processes: wrk for throughput, bench.ratec (open loop) for latency, bench.flood for
the raw-link ceiling.
Unpinned by default, as issue 13's targets are set: the scheduler shares both cores among
everything, ejabberd with its default schedulers. `--pin` puts ejabberd (`+S 1:1`) and the
sidecar on CPU 0, this process (the receivers), wrk and the other load processes on CPU 1.

After a config's measured run, `--strace` and `--profile` give it extra runs of their own
(cfg suffixed `+strace`, `+profile`; never in the throughput tables): syscalls per answered
request by name (`strace -c -f`), and py-spy's raw stacks in run/bench/ with their top frames.

    python -m bench.run                                # 3 rounds, ~25 min, bench/RESULTS.md
    python -m bench.run --rounds 1 --seconds 3 --lat-seconds 5 --results run/bench/dev.md
    python -m bench.run --configs qm16n,fh16 --strace qm16n,fh16 --profile qm16n
    python -m bench.run --report run/bench/records-….jsonl   # the tables again, from records
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import uvloop

from bench import probe_report, procstat, report, wrk
from bench.measure import Record, Round, Settings
from bench.probes import PROBES, Probe, py_spy_available
from bench.scenarios import ALL, DEFAULT
from devenv.ejabberd import installed

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "run" / "bench"
NOTES = "<!-- notes: kept across runs -->"
# What `make bench` probes unless told otherwise: issue 13's syscalls and profile.
DEFAULT_STRACE = ("qm16n", "fh16", "fd16")
DEFAULT_PROFILE = ("qm16n",)
SIDECARS = ("daemon", "floor")  # the targets that are a process of their own to probe


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="each throughput run")
    parser.add_argument("--lat-seconds", type=float, default=20.0, help="each latency run")
    parser.add_argument("--group-seconds", type=float, default=3.0,
                        help="groupchat load (then it drains, up to --max-drain)")
    # A drain ends as soon as nothing arrives for a moment (measure.IDLE); this cap only stops
    # a trickle. 3 s of groupchat at 12,000 requests/s is 1.8 million copies, which ejabberd
    # fans out at ~25,000 a second: 60 s cut one round short, 270,000 copies still on their
    # way counted as lost (session 8).
    parser.add_argument("--max-drain", type=float, default=180.0,
                        help="seconds to wait for the last deliveries after the load, at most")
    parser.add_argument("--configs", default=",".join(DEFAULT),
                        help=f"comma-separated, from: {', '.join(ALL)}")
    parser.add_argument("--pin", dest="pinned", action="store_true",
                        help="ejabberd and the sidecar on CPU 0, the load on CPU 1")
    parser.add_argument("--no-pin", dest="pinned", action="store_false",
                        help="the default: the scheduler shares both cores among everything")
    parser.add_argument("--strace", default=",".join(DEFAULT_STRACE), metavar="CFG[,CFG]",
                        help="configs given an extra run under strace -c ('' for none)")
    parser.add_argument("--profile", default=",".join(DEFAULT_PROFILE), metavar="CFG[,CFG]",
                        help="configs given an extra run sampled by py-spy ('' for none)")
    parser.add_argument("--quiet", type=float, default=0.0, metavar="CORES",
                        help="before each run, wait until other processes and the "
                        "hypervisor's steal take fewer cores")
    parser.add_argument("--quiet-wait", type=float, default=120.0, metavar="SECONDS",
                        help="but no longer than this")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("--report", type=Path, metavar="RECORDS.jsonl",
                        help="only write the tables again from the records of a run")
    args = parser.parse_args(argv)
    args.configs = _names(parser, args.configs)
    args.probes = {probe: _names(parser, getattr(args, probe), sidecar_only=True)
                   for probe in PROBES}
    return args


def _names(parser: argparse.ArgumentParser, text: str, *, sidecar_only: bool = False
           ) -> list[str]:
    names = [c for c in text.split(",") if c]
    unknown = [c for c in names if c not in ALL]
    if unknown:
        parser.error(f"unknown configs: {', '.join(unknown)}")
    if sidecar_only and (other := [c for c in names if ALL[c].target not in SIDECARS]):
        parser.error(f"only a sidecar (the daemon, a floor) can be probed: {', '.join(other)}")
    return names



def probes_of(name: str, args: argparse.Namespace) -> list[Probe]:
    """The extra runs of a config in this bench, run right after its measured one."""
    return [probe for probe in PROBES if name in args.probes[probe]]


async def run_round(index: int, args: argparse.Namespace, sink: Path) -> list[Record]:
    order = args.configs if index % 2 == 0 else list(reversed(args.configs))
    workdir = WORK / f"round{index}"
    shutil.rmtree(workdir, ignore_errors=True)
    rnd = Round(index, workdir, Settings(
        pinned=args.pinned, seconds=args.seconds, lat_seconds=args.lat_seconds,
        group_seconds=args.group_seconds, max_drain=args.max_drain, quiet=args.quiet,
        quiet_wait=args.quiet_wait))
    records = []
    try:
        await rnd.setup(group=any(ALL[name].group for name in order))
        for name in order:
            for probe in [None, *probes_of(name, args)]:
                record = await rnd.run(ALL[name], probe)
                records.append(record)
                _append(sink, record)
                print(f"round {index} {record['cfg']:13} " + _line(record), flush=True)
    finally:
        await rnd.close()
    return records


def _line(r: Record) -> str:
    keys = ("delivered_per_s", "to_last_per_s", "http_p99", "lat_p50", "lat_p99", "lat_p999",
            "daemon_cores", "daemon_us_per_request", "beam_cores", "daemon_rss_mb",
            "syscalls_per_request", "foreign_cores", "lost")
    return " ".join(f"{k}={report.fmt(r[k])}" for k in keys if k in r)


def header(meta: dict[str, Any], records: list[Record]) -> str:
    m = meta["machine"]
    pinning = ("pinned: ejabberd (`erl +S 1:1`) and the sidecar on CPU 0; receivers, wrk and "
               "the load processes on CPU 1" if meta["pinned"] else "unpinned: both cores "
               "shared by everything, ejabberd with its default schedulers")
    foreign = [r["foreign_cores"] for r in records if "foreign_cores" in r]
    steal = [r["steal_cores"] for r in records if "steal_cores" in r]
    return f"""# Benchmark results

Generated by `python -m bench.run` ({meta['started']}; {meta['rounds']} rounds, throughput
runs {meta['seconds']:g} s, latency runs {meta['lat_seconds']:g} s, groupchat load
{meta['group_seconds']:g} s; configs in order, reversed every other round). Medians over rounds
with [min–max]; ratios are paired per round. Delivered means counted by the receiving
client(s), not answered requests.

* Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram']} RAM, Linux {m['kernel']};
  Python {m['python']}, ejabberd {m['ejabberd']} (Debian; MAM off for users and rooms),
  {m['wrk']}.
* {pinning}.
* The machine is shared: load average {meta['load_before']} before and
  {meta.get('load_after', '?')} after the run. During the measured windows other processes
  used {report.spread(foreign)} cores (`foreign cores`, from /proc) and the hypervisor took
  {report.spread(steal)} (`steal`, /proc/stat) of the 2 cores.
* Configurations: `bench/scenarios.py`. Every daemon run starts a fresh `python -m component`
  (its request path compiled with mypyc, `setup.py`; default config: outbox on, INFO logs
  with one audit line per request); every floor run a
  fresh floor sidecar (`bench/floor_aiohttp.py`, `bench/floor_httptools.py`: ejabberd's
  request, one escaped stanza written to a raw component link, nothing else;
  `bench/floor_durable.py`: the httptools one, answering once the turn's rows are committed
  to an outbox, acknowledged by paced barriers, one audit line each). `sidecar`
  columns are that process's own CPU and peak RSS, from /proc.
"""


def write_results(path: Path, text: str) -> None:
    notes = ""
    if path.exists() and NOTES in (old := path.read_text()):
        notes = old[old.index(NOTES):]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n" + (notes or NOTES + "\n"))


def publish(meta: dict[str, Any], records: list[Record], results: Path) -> None:
    """The tables into `results`; the py-spy summary, if any run was profiled, beside it
    in PROFILE.md."""
    text = header(meta, records) + "\n" + "\n".join(
        part for part in (report.render(records), probe_report.syscalls_table(records)) if part)
    if profile := probe_report.profile_summary(records):
        path = results.with_name("PROFILE.md")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(profile)
        text += f"\nThe py-spy profile of {_profiled(records)} under load: `{path.name}`.\n"
        print(f"profile: {path}")
    print("\n" + text)
    write_results(results, text)
    print(f"results: {results}")


def _profiled(records: list[Record]) -> str:
    return ", ".join(sorted({r["cfg"] for r in records if r.get("profile_samples")}))


def load_records(path: Path) -> tuple[dict[str, Any], list[Record]]:
    meta: dict[str, Any] = {}
    records = []
    for line in path.read_text().splitlines():
        item = json.loads(line)
        if "meta" in item:
            meta.update(item["meta"])
        else:
            records.append(item)
    return meta, records


async def main_async(args: argparse.Namespace) -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    sink = WORK / f"records-{datetime.datetime.now():%Y%m%d-%H%M%S}.jsonl"
    meta = {"started": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "rounds": args.rounds, "seconds": args.seconds, "lat_seconds": args.lat_seconds,
            "group_seconds": args.group_seconds, "pinned": args.pinned,
            "load_before": procstat.loadavg(), "machine": procstat.machine()}
    _append(sink, {"meta": meta})
    records: list[Record] = []
    for index in range(args.rounds):
        records += await run_round(index, args, sink)
    meta["load_after"] = procstat.loadavg()
    _append(sink, {"meta": {"load_after": meta["load_after"]}})
    print(f"records: {sink}")
    publish(meta, records, args.results)
    return 0


def _append(sink: Path, item: dict[str, Any]) -> None:
    with sink.open("a") as out:
        out.write(json.dumps(item) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        publish(*load_records(args.report), args.results)
        return 0
    if not installed():
        print("ejabberd is not installed: `make servers`", file=sys.stderr)
        return 1
    if not wrk.available():
        print("wrk is not installed: `bash devenv/install-deps.sh bench`", file=sys.stderr)
        return 1
    if args.probes["strace"] and shutil.which("strace") is None:
        print("strace is not installed: `bash devenv/install-deps.sh bench`", file=sys.stderr)
        return 1
    if args.probes["profile"] and not py_spy_available():
        print("py-spy is not installed: `bash devenv/install-deps.sh bench`", file=sys.stderr)
        return 1
    if args.pinned:
        if (os.cpu_count() or 1) < 2:
            print("pinning needs 2 CPUs; use --no-pin", file=sys.stderr)
            return 1
        os.sched_setaffinity(0, {1})  # the load processes inherit it
    return uvloop.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
