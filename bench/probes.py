"""Observers attached to a sidecar during a run of its own: strace's syscall counts, py-spy.

Both stop the process they watch (ptrace) or take a share of the 2 cores, so a probed run is
an extra run whose throughput is never reported (its cfg is suffixed `+strace`, `+profile`).

* `Strace`: `strace -c -f -p PID` attached before the load starts and detached (SIGINT)
  after it ends, so every answered request falls inside it; `syscalls_per_request` divides
  its counts by the requests answered.
* `PySpy`: `py-spy record --native --gil -f raw` over the load window; `stack_summary` turns
  the raw stacks into the frames with the most samples, on top of the stack (self) and
  anywhere in it (inclusive). `--native` sees the functions mypyc compiled (setup.py), which
  have no Python frames; it must pause the process at each sample (no `--nonblocking`), and
  then py-spy cannot tell a waiting thread from a running one by its state: `--gil` keeps the
  samples in which a thread held the GIL, which a thread waiting for work does not.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

Probe = Literal["strace", "profile"]
PROBES: tuple[Probe, ...] = ("strace", "profile")
TOP_SYSCALLS = 6
KEPT_FRAMES = 40  # per round in the record; the report sums rounds, then shows fewer
LINE_NUMBER = re.compile(r":\d+\)$")


def syscall_counts(summary: str) -> dict[str, int]:
    """Calls per syscall from `strace -c`'s table (its `total` row left out)."""
    counts: dict[str, int] = {}
    for line in summary.splitlines():
        fields = line.split()
        if len(fields) < 5 or not fields[0].replace(".", "", 1).isdigit():
            continue  # header, rules, attach messages
        if fields[-1] != "total":
            counts[fields[-1]] = counts.get(fields[-1], 0) + int(fields[3])
    return counts


def syscalls_per_request(counts: dict[str, int], answered: int) -> dict[str, Any]:
    """The record's fields: all syscalls per answered request, and the top ones by name."""
    if answered <= 0:
        return {}
    top = sorted(counts.items(), key=lambda item: -item[1])[:TOP_SYSCALLS]
    return {"syscalls_per_request": sum(counts.values()) / answered,
            "syscalls": {name: calls / answered for name, calls in top}}


class Strace:
    """`strace -c -f` on one process, from `attach` to `detach`."""

    def __init__(self, pid: int, output: Path) -> None:
        self.pid, self.output = pid, output
        self.process: asyncio.subprocess.Process | None = None

    async def attach(self, timeout: float = 10.0) -> None:
        """Returns once strace says it is attached: the load may start."""
        self.process = await asyncio.create_subprocess_exec(
            "strace", "-c", "-f", "-p", str(self.pid), "-o", str(self.output),
            stderr=asyncio.subprocess.PIPE)
        assert self.process.stderr is not None
        async with asyncio.timeout(timeout):
            while b"attached" not in await self.process.stderr.readline():
                if self.process.returncode is not None:
                    raise RuntimeError(f"strace could not attach to {self.pid}")

    async def detach(self) -> dict[str, int]:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        await self.process.communicate()
        return syscall_counts(self.output.read_text())


# A function mypyc compiled (setup.py), as `py-spy --native` names it: `CPyDef_` (its C body) or
# `CPyPy_` (its Python-callable wrapper), then the module's shortest unique dotted suffix, the
# class and the function, joined by `___`; a coroutine's body is a class `<fn>_<Class>_gen`.
COMPILED = re.compile(r"CPy(?:Def|Py)_(\w+?)(?: \([^)]*\))?$")
GENERATOR = re.compile(r"(\w+?)(?:_([A-Z]\w*))?_gen$")
# A Python frame's place: a .py file or a frozen module (`<frozen runpy>`), and a line; a native
# frame's is a library (`libc.so.6`) or a C or Cython source (`loop.pyx:123`).
PYTHON_FRAME = re.compile(r"\((?:[^()]*\.py|<[^<>()]*>):\d+\)$")


def _frame(raw: str) -> str | None:
    """`function (file.py:123)` → `function (file.py)`: one row per function; a compiled
    function as `Class.function (module, compiled)`; None for any other native frame (the
    interpreter's, uvloop's, libc's): its time counts to the frame that called it, as without
    `--native`."""
    compiled = COMPILED.match(raw)
    if compiled:
        return _compiled_frame(compiled.group(1).split("___"))
    if PYTHON_FRAME.search(raw):
        return LINE_NUMBER.sub(")", raw)
    return None


def _compiled_frame(parts: list[str]) -> str:
    """['http', 'messages', 'send_message_MessageRoutes_gen', '__next__'] →
    `MessageRoutes.send_message (http.messages, compiled)`."""
    for at, part in enumerate(parts):
        generator = GENERATOR.fullmatch(part)
        if generator and at:
            function, owner = generator.groups()
            return _named(parts[:at], owner, function)
    if len(parts) >= 3 and parts[-2].lstrip("_")[:1].isupper():
        return _named(parts[:-2], parts[-2], parts[-1])
    return _named(parts[:-1], None, parts[-1])


def _named(module: list[str], owner: str | None, function: str) -> str:
    name = f"{owner}.{function}" if owner else function
    return f"{name} ({'.'.join(module)}, compiled)"


def stack_summary(lines: Iterable[str]) -> dict[str, Any]:
    """Samples, and the frames with the most of them on top of the stack and anywhere in it,
    from py-spy's raw format (one `frame;frame;…;leaf count` line per distinct stack).
    Inclusive counts leave out each thread's trunk, the frames all its stacks pass through
    (interpreter start-up, the event loop's `run`): they would top the list at ~100%."""
    stacks = [(frames, count) for line in lines if (parsed := _stack(line))
              for frames, count in [parsed]]
    trunks = _trunks(frames for frames, _ in stacks)
    samples, on_top, anywhere = 0, Counter[str](), Counter[str]()
    for frames, count in stacks:
        samples += count
        on_top[frames[-1]] += count
        for frame in set(frames[min(len(trunks[frames[0]]), len(frames) - 1):]):
            anywhere[frame] += count
    return {"profile_samples": samples,
            "profile_self": on_top.most_common(KEPT_FRAMES),
            "profile_inclusive": anywhere.most_common(KEPT_FRAMES)}


def _stack(line: str) -> tuple[list[str], int] | None:
    stack, _, count = line.rstrip().rpartition(" ")
    if not stack or not count.isdigit():
        return None
    frames: list[str] = []
    for raw in stack.split(";"):
        frame = _frame(raw)
        if frame is not None and (not frames or frames[-1] != frame):  # CPyPy_ calls CPyDef_
            frames.append(frame)
    return (frames, int(count)) if frames else None


def _trunks(stacks: Iterable[list[str]]) -> dict[str, list[str]]:
    """Per root frame (one per thread's entry point), the frames common to all its stacks;
    a stack still counts its own leaf (so inclusive is never below self)."""
    by_root: dict[str, list[list[str]]] = {}
    for frames in stacks:
        by_root.setdefault(frames[0], []).append(frames)
    return {root: _common_prefix(group) for root, group in by_root.items()}


def _common_prefix(stacks: list[list[str]]) -> list[str]:
    prefix = []
    for level in zip(*stacks, strict=False):
        if len(set(level)) > 1:
            break
        prefix.append(level[0])
    return prefix


class PySpy:
    """py-spy sampling one process for `seconds`, pausing it at each sample."""

    def __init__(self, pid: int, output: Path) -> None:
        self.pid, self.output = pid, output
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, seconds: float) -> None:
        py_spy = Path(sys.executable).with_name("py-spy")
        self.process = await asyncio.create_subprocess_exec(
            str(py_spy), "record", "-p", str(self.pid), "-d", str(max(1, int(seconds) - 1)),
            "-r", "250", "--native", "--gil", "-f", "raw", "-o", str(self.output),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)

    async def summary(self) -> dict[str, Any]:
        assert self.process is not None
        await self.process.wait()
        if not self.output.exists():
            return {}
        return {"profile_raw": str(self.output),
                **stack_summary(self.output.read_text().splitlines())}


def py_spy_available() -> bool:
    return Path(sys.executable).with_name("py-spy").exists()
