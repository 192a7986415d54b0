"""CPU and memory accounting from /proc, and a description of the machine.

The machine is shared, so every window records who else used the CPU: all processes' busy
time minus ours (`foreign`), and the hypervisor's `steal`. Linux only, stdlib only.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (state first); [] once gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return text[text.rindex(")") + 2:].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), 0.0 once it is gone."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICK if fields else 0.0


def kernel_cpu_seconds(pid: int) -> float:
    """stime alone: the part of cpu_seconds spent in the kernel, for the process's syscalls."""
    fields = _stat(pid)
    return int(fields[12]) / TICK if fields else 0.0


def context_switches(pid: int) -> int:
    """Voluntary and involuntary context switches of every thread of a process: each is a
    sleep and a wake-up, or a preemption, paid in kernel time; 0 once it is gone."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/status").read_text()
            total += sum(int(n) for n in re.findall(r"^\w*ctxt_switches:\s+(\d+)", text, re.M))
    except OSError:
        return total
    return total


def children_cpu_seconds(pid: int) -> float:
    """cutime + cstime: the CPU of the children this process has already waited for."""
    fields = _stat(pid)
    return (int(fields[13]) + int(fields[14])) / TICK if fields else 0.0


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set, in MB."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) / 1024 if match else 0.0


def descendants(root: int) -> set[int]:
    """root and every process below it (ppid chains), from one pass over /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))):
            parents[int(entry)] = int(fields[1])
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return tree


def _cpu_lines() -> dict[str, list[int]]:
    lines = Path("/proc/stat").read_text().splitlines()
    return {line.split()[0]: [int(x) for x in line.split()[1:]]
            for line in lines if line.startswith("cpu")}


@dataclass(frozen=True, slots=True)
class SystemSample:
    at: float
    cpus: dict[str, list[int]]
    ours: float  # CPU seconds of our process tree (this process, its children, ejabberd)


def sample(our_pids: Iterable[int]) -> SystemSample:
    """`our_pids` live now; children we already reaped count through our cutime."""
    ours = sum(cpu_seconds(p) for p in our_pids) + children_cpu_seconds(os.getpid())
    return SystemSample(time.monotonic(), _cpu_lines(), ours)


def _busy(fields: list[int]) -> tuple[int, int]:
    """(busy ticks without steal, steal ticks): user nice system idle iowait irq softirq steal."""
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6]
    return busy, fields[7] if len(fields) > 7 else 0


def window(a: SystemSample, b: SystemSample) -> dict[str, float]:
    """Per-CPU utilisation, foreign cores and steal cores between two samples."""
    seconds = max(b.at - a.at, 1e-9)
    out: dict[str, float] = {}
    total_busy = 0.0
    for name, fields in b.cpus.items():
        busy_b, steal_b = _busy(fields)
        busy_a, steal_a = _busy(a.cpus[name])
        busy = (busy_b - busy_a) / TICK / seconds
        if name == "cpu":
            total_busy = busy
            out["steal_cores"] = (steal_b - steal_a) / TICK / seconds
        else:
            out[f"{name}_util"] = busy
    out["foreign_cores"] = max(0.0, total_busy - (b.ours - a.ours) / seconds)
    return out


def machine() -> dict[str, str]:
    """What the results came from."""
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = int(re.findall(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[0])
    return {"nproc": str(os.cpu_count()), "cpu": model, "ram": f"{mem_kb / 1048576:.0f} GiB",
            "kernel": platform.release(), "python": platform.python_version(),
            "ejabberd": _ejabberd_version(), "wrk": _tool_version(["wrk", "-v"])}


def _ejabberd_version() -> str:
    apps = sorted(Path("/usr/lib").glob("*/ejabberd-*/ebin/ejabberd.app"))
    return apps[-1].parent.parent.name.removeprefix("ejabberd-") if apps else "?"


def _tool_version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
    except OSError:
        return "?"
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0].split(" [")[0] if text else "?"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])
