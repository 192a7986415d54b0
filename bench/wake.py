"""How much dearer the same work is after the CPU slept: the wake-up penalty of this machine.

    python -m bench.wake [--cpu 0] [--runs 2000]

Times one fixed piece of the daemon's hot path (five parses and splices of a caller's
message) back to back, then after sleeps of 0.2, 1 and 5 ms, on one CPU, and prints the
median and p90 of each. On the VM of bench/RESULTS.md the work took 117–220 µs back to back
and 270–470 µs after a sleep, depending on the hour: a daemon that sleeps between requests pays
that on every one.
"""

from __future__ import annotations

import argparse
import os
import time

from component.jid import Jid
from component.xmpp import fragment

MESSAGE = ("<message type='chat'><body>perf anchor message body 0123456789 "
           "abcdefghijklmnopqrstuvwxyz</body></message>")
SENDER, RECIPIENT = Jid.parse("test1@qtalk.test.org"), Jid.parse("test2@qtalk.test.org")
SLEEPS = (0.0, 0.0002, 0.001, 0.005)


def work() -> None:
    for _ in range(5):
        fragment.prepare_message(fragment.parse_message(MESSAGE, 65536), SENDER, RECIPIENT)


def timings(sleep: float, runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
        if sleep:
            time.sleep(sleep)
    return sorted(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cpu", type=int, default=0, help="the CPU to run on")
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    for sleep in SLEEPS:
        runs = timings(sleep, args.runs)
        print(f"sleep {sleep * 1e3:4.1f} ms before: median {runs[len(runs) // 2] * 1e6:6.1f} µs"
              f"  p90 {runs[int(len(runs) * 0.9)] * 1e6:6.1f} µs")


if __name__ == "__main__":
    main()
