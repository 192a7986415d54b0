"""One round: an ejabberd, its receivers, and one measured run per scenario.

A run starts its sidecar if it has one (the daemon or a floor, afresh), resets the receivers'
counters, starts the load in its own process (wrk, bench.ratec or bench.flood), samples CPU
around the load window, then waits until everything answered has arrived (or nothing has for
`idle` seconds) and returns one flat record. A probed run (bench.probes) is the same with
strace or py-spy on the sidecar, recorded under the cfg suffixed `+strace` or `+profile`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import loadproc, procstat, wrk
from bench.probes import Probe, PySpy, Strace, syscalls_per_request
from bench.scenarios import ALL, MEMBERS, RECIPIENT, ROOM, SENDER, Hosts, Scenario
from bench.servers import DaemonProcess, SidecarProcess, start_ejabberd, start_sidecar
from bench.xmpp import Receiver

Record = dict[str, Any]
IDLE = 1.5


@dataclass(frozen=True, slots=True)
class Settings:
    pinned: bool
    seconds: float          # each throughput run
    lat_seconds: float      # each latency run
    group_seconds: float    # groupchat load, then it drains
    max_drain: float
    quiet: float = 0.0      # wait for other processes to use less than this many cores
    quiet_wait: float = 120.0


async def drain(receivers: list[Receiver], *, expected: int | None, max_drain: float) -> Record:
    """Wait for the stragglers: until all `expected` arrived, or none for IDLE seconds."""
    deadline = time.monotonic() + max_drain
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        total = sum(r.counter.count for r in receivers)
        if expected is not None and total >= expected:
            break
        if total != last:
            last, last_change = total, time.monotonic()
        elif time.monotonic() - last_change > IDLE:
            break
        await asyncio.sleep(0.05)
    return {"delivered": sum(r.counter.count for r in receivers),
            "last_at": max((r.counter.last_at for r in receivers), default=0.0),
            "receiver_eof": any(r.eof for r in receivers)}


class Round:
    def __init__(self, index: int, workdir: Path, settings: Settings) -> None:
        self.index, self.workdir, self.settings = index, workdir, settings
        self.pinned = settings.pinned
        self.server = start_ejabberd(workdir / "ejabberd", pinned=settings.pinned)
        self.hosts = Hosts(self.server.host, self.server.muc_domain)
        self.receiver: Receiver | None = None
        self.members: list[Receiver] = []
        self.copies = {"ejabberd": 0.0, "daemon": 0.0}
        self.beam = procstat.descendants(self.server.pid or 0)

    # -- set-up ------------------------------------------------------------------------------

    async def setup(self, *, group: bool) -> None:
        for user in (SENDER, RECIPIENT):
            self.server.register(user, user)
        self.receiver = await Receiver.login(self.server.c2s_port, RECIPIENT, self.server.host,
                                             RECIPIENT)
        if group:
            await self._setup_group()
        self.beam = procstat.descendants(self.server.pid or 0)

    async def _setup_group(self) -> None:
        """A room of 50 members made through our API (so subscribed as the daemon does it)."""
        for member in MEMBERS:
            self.server.register(member, member)
        self.members = list(await asyncio.gather(*(
            Receiver.login(self.server.c2s_port, m, self.server.host, m) for m in MEMBERS)))
        daemon = DaemonProcess(self.server, self.workdir, "group-setup", durable=True,
                               pinned=self.pinned, store=self.workdir / "group.db")
        try:
            await daemon.ready()
            await loadproc.post_json(daemon.url + "/qtalk/create_muc", {
                "muc_id": ROOM, "muc_owner": MEMBERS[0], "muc_domain": self.hosts.muc,
                "muc_name": ROOM})
            await loadproc.post_json(daemon.url + "/qtalk/add_muc_user", {
                "muc_id": ROOM, "muc_owner": MEMBERS[0], "muc_member": list(MEMBERS[1:]),
                "muc_domain": self.hosts.muc})
            await asyncio.sleep(1.0)  # invitations and subscriptions settle
            self.copies["daemon"] = await self._probe(daemon.url, "gqm16")
        finally:
            await daemon.stop()
        self.copies["ejabberd"] = await self._probe(
            f"http://127.0.0.1:{self.server.http_port}", "gej16")

    async def _probe(self, base: str, name: str) -> float:
        """Copies of one groupchat that reach the 50 online members (a few probes)."""
        scenario = ALL[name]
        self._reset(self.members)
        for n in range(5):
            await loadproc.post_json(base + scenario.path, json.loads(
                scenario.body(self.hosts, f"probe {n}")))
        await self._drain(self.members, expected=None)
        return sum(r.counter.count for r in self.members) / 5

    async def close(self) -> None:
        for receiver in [*self.members, *([self.receiver] if self.receiver else [])]:
            await receiver.close()
        await asyncio.to_thread(self.server.stop)

    # -- one run -----------------------------------------------------------------------------

    async def run(self, scenario: Scenario, probe: Probe | None = None) -> Record:
        receivers = self.members if scenario.group else [self.receiver] if self.receiver else []
        cfg = f"{scenario.name}+{probe}" if probe else scenario.name
        record: Record = {"cfg": cfg, "round": self.index}
        sidecar = start_sidecar(self.server, scenario, self.workdir, f"{cfg}-r{self.index}",
                                pinned=self.pinned)
        try:
            if sidecar is not None:
                await sidecar.ready()
            record["waited_for_quiet_s"] = await self._await_quiet()
            self._reset(receivers, latency=scenario.kind == "rate")
            load = {"wrk": self._wrk, "rate": self._rate, "flood": self._flood}[scenario.kind]
            await self._measure(record, receivers, sidecar, probe, self._seconds(scenario),
                                lambda: load(scenario, sidecar, record))
            copies = self.copies[scenario.target] if scenario.group else 1.0
            expected = int(record.get("accepted", 0) * copies)
            record.update(await self._drain(receivers, expected=expected))
            # Up to the last delivery: a room keeps fanning out after the load has stopped.
            record["server_cpu_to_last"] = (self._beam_cpu() - record.pop("_beam_a")) + \
                ((sidecar.cpu() - record.pop("_daemon_a")) if sidecar else 0.0)
            record["lost"] = max(0, expected - record["delivered"])
            record["copies"] = copies
            self._summarise(record, receivers)
            if sidecar is not None:
                record["daemon_rss_mb"] = sidecar.peak_rss_mb()
        finally:
            if sidecar is not None:
                await sidecar.stop()
        return record

    async def _measure(self, record: Record, receivers: list[Receiver],
                       sidecar: SidecarProcess | None, probe: Probe | None, seconds: float,
                       load: Callable[[], Awaitable[Callable[[], Awaitable[None]]]]) -> None:
        """Start the load, sample CPU at its start and end, and record the window; strace
        watches from before the load starts to after it ends, py-spy samples the load."""
        ours = self._our_pids()
        tracer, profiler = self._observers(record["cfg"], sidecar, probe)
        if tracer is not None:
            await tracer.attach()
        wait_for_end = await load()
        a, beam_a, daemon_a = procstat.sample(ours), self._beam_cpu(), sidecar.cpu() if sidecar \
            else 0.0
        kernel_a = sidecar.kernel_cpu() if sidecar else 0.0
        switches_a = sidecar.context_switches() if sidecar else 0
        count_a = sum(r.counter.count for r in receivers)
        if profiler is not None:
            await profiler.start(seconds)
        await wait_for_end()
        b = procstat.sample(ours | self._our_pids())
        window = b.at - a.at
        record.update(procstat.window(a, b))
        record["window_s"] = window
        record["t_start"] = a.at
        record["_beam_a"], record["_daemon_a"] = beam_a, daemon_a
        record["beam_cores"] = (self._beam_cpu() - beam_a) / window
        record["daemon_cores"] = ((sidecar.cpu() - daemon_a) / window) if sidecar else 0.0
        record["daemon_kernel_cores"] = ((sidecar.kernel_cpu() - kernel_a) / window) \
            if sidecar else 0.0
        record["daemon_switches_per_s"] = ((sidecar.context_switches() - switches_a) / window) \
            if sidecar else 0.0
        record["delivered_window"] = sum(r.counter.count for r in receivers) - count_a
        if tracer is not None:
            answered = record.get("requests", 0) - record.get("non2xx", 0)
            record.update(syscalls_per_request(await tracer.detach(), answered))
        if profiler is not None:
            record.update(await profiler.summary())

    def _observers(self, cfg: str, sidecar: SidecarProcess | None, probe: Probe | None
                   ) -> tuple[Strace | None, PySpy | None]:
        if sidecar is None or probe is None:
            return None, None
        if probe == "strace":
            return Strace(sidecar.pid, self.workdir / f"{cfg}.strace"), None
        # Beside the records, where a later round does not remove it.
        return None, PySpy(sidecar.pid, self.workdir.parent / f"profile-{cfg}.r{self.index}.txt")

    def _seconds(self, scenario: Scenario) -> float:
        """How long the load of this scenario runs."""
        if scenario.kind == "rate":
            return self.settings.lat_seconds
        return self.settings.group_seconds if scenario.group else self.settings.seconds

    async def _await_quiet(self) -> float:
        """On a shared machine: wait (bounded) until other processes and the hypervisor
        (steal) leave the CPUs alone."""
        if not self.settings.quiet:
            return 0.0
        began = time.monotonic()
        while time.monotonic() - began < self.settings.quiet_wait:
            ours = self._our_pids() | self.beam
            a = procstat.sample(ours)
            await asyncio.sleep(2.0)
            busy = procstat.window(a, procstat.sample(ours))
            if busy["foreign_cores"] + busy["steal_cores"] < self.settings.quiet:
                break
        return time.monotonic() - began

    # -- the three kinds of load -------------------------------------------------------------

    def _url(self, scenario: Scenario, sidecar: SidecarProcess | None) -> str:
        base = sidecar.url if sidecar else f"http://127.0.0.1:{self.server.http_port}"
        return base + scenario.path

    async def _wrk(self, scenario: Scenario, sidecar: SidecarProcess | None, record: Record
                   ) -> Callable[[], Awaitable[None]]:
        script = wrk.write_script(self.workdir, scenario.name, scenario.body(self.hosts))
        seconds = self._seconds(scenario)
        children_a = procstat.children_cpu_seconds(os.getpid())
        process = await wrk.start(self._url(scenario, sidecar), script,
                                  connections=scenario.connections, seconds=seconds)

        async def end() -> None:
            result = await wrk.finish(process)
            record.update(requests=result.requests, non2xx=result.non2xx,
                          errors=result.errors, http_p50=result.p50_ms,
                          http_p99=result.p99_ms, http_p999=result.p999_ms,
                          accepted=result.ok * scenario.per_request,
                          loadgen_cpu=procstat.children_cpu_seconds(os.getpid()) - children_a)
        return end

    async def _rate(self, scenario: Scenario, sidecar: SidecarProcess | None, record: Record
                    ) -> Callable[[], Awaitable[None]]:
        if scenario.target == "raw":
            return await self._flood(scenario, sidecar, record, rate=1000.0)
        template = self.workdir / f"{scenario.name}.json"
        template.write_bytes(scenario.body(self.hosts, "@@BODY@@"))
        process = await loadproc.start("bench.ratec", "--url", self._url(scenario, sidecar),
                                "--template", str(template), "--rate", str(scenario.rate),
                                "--seconds", str(self.settings.lat_seconds))

        async def end() -> None:
            result = await loadproc.result(process)
            ok = sum(v for k, v in result["statuses"].items() if k.startswith("2"))
            record.update(requests=result["sent"], non2xx=result["sent"] - ok,
                          http_p50=result["http_p50"], http_p99=result["http_p99"],
                          http_p999=result["http_p999"], accepted=ok * scenario.per_request,
                          achieved_rps=result["sent"] / (result["ended"] - result["started"]),
                          loadgen_cpu=result["cpu"])
        return end

    async def _flood(self, scenario: Scenario, sidecar: SidecarProcess | None, record: Record,
                     rate: float = 0.0) -> Callable[[], Awaitable[None]]:
        s = self.server
        argv = ["--port", str(s.component_port), "--domain", s.component_domain,
                "--secret", s.secret, "--host", s.host, "--sender", f"{SENDER}@{s.host}",
                "--to", f"{RECIPIENT}@{s.host}", "--shape", scenario.shape]
        if rate:
            argv += ["--rate", str(rate), "--seconds", str(self.settings.lat_seconds)]
        else:
            argv += ["--seconds", str(self.settings.seconds),
                     "--window", "2048" if scenario.shape == "product" else "4096"]
        process = await loadproc.start("bench.flood", *argv)

        async def end() -> None:
            result = await loadproc.result(process)
            record.update(accepted=result["sent"], loadgen_cpu=result["cpu"],
                          sent_per_s=result["sent"] / (result["ended"] - result["started"]))
        return end

    # -- counting ----------------------------------------------------------------------------

    @staticmethod
    def _reset(receivers: list[Receiver], *, latency: bool = False) -> None:
        for receiver in receivers:
            receiver.counter.reset(latency=latency)

    async def _drain(self, receivers: list[Receiver], *, expected: int | None) -> Record:
        return await drain(receivers, expected=expected, max_drain=self.settings.max_drain)

    def _summarise(self, record: Record, receivers: list[Receiver]) -> None:
        seconds = record["window_s"]
        record["delivered_per_s"] = record["delivered_window"] / seconds
        to_last = record["last_at"] - record["t_start"]
        record["to_last_per_s"] = record["delivered"] / to_last if to_last > 0 else 0.0
        record["server_us_per_msg"] = 1e6 * record["server_cpu_to_last"] / \
            max(1, record["delivered"])
        record["per_core"] = 1e6 / record["server_us_per_msg"] if record["delivered"] else 0.0
        record["loadgen_cores"] = record.get("loadgen_cpu", 0.0) / seconds
        if "requests" in record:
            record["answered_per_s"] = (record["requests"] - record["non2xx"]) / seconds
            if record["daemon_cores"] and record["answered_per_s"]:
                # The sidecar's own CPU per request, whatever each request carries.
                record["daemon_us_per_request"] = \
                    1e6 * record["daemon_cores"] / record["answered_per_s"]
                record["daemon_kernel_us_per_request"] = \
                    1e6 * record.get("daemon_kernel_cores", 0.0) / record["answered_per_s"]
                record["daemon_switches_per_request"] = \
                    record.get("daemon_switches_per_s", 0.0) / record["answered_per_s"]
        latencies = sorted(x / 1e6 for r in receivers for x in r.counter.latencies)
        if latencies:
            record.update(lat_n=len(latencies), lat_max=latencies[-1], **{
                f"lat_p{name}": loadproc.percentile(latencies, q)
                for name, q in (("50", 50), ("90", 90), ("99", 99), ("999", 99.9))})

    def _beam_cpu(self) -> float:
        return sum(procstat.cpu_seconds(pid) for pid in self.beam)

    def _our_pids(self) -> set[int]:
        return procstat.descendants(os.getpid())
