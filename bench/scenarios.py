"""The measured configurations: what each sends, to whom, through which path.

Every configuration sends the same chat message (the body of reference perf-anchors.md) from
test1 to test2, the one receiving client, or a groupchat to a room of 50 subscribed members,
all online and counting. Names: `ej` ejabberd's own `/api/send_message` (the anchor), `qm` our
`send_message`, `qt` our `send_thirdmessage`, `qb` the same with arrays of 100, `fl` the raw
component link (no HTTP), `fa`, `fh` and `fd` the floor sidecars (the anchor's request served by
naive aiohttp, by a bare httptools protocol, or by that protocol keeping what the daemon keeps:
bench.floor; `fhm` the bare one writing the daemon's message instead of the plain one),
`g` groupchat; `16` wrk's connections; `m` outbox in memory (`[delivery] durable = false`);
`n` no XEP-0280 carbons (`xmpp.carbons = false`); `lat` the fixed-rate latency runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

BODY = "perf anchor message body 0123456789 abcdefghijklmnopqrstuvwxyz"
PLACEHOLDER = "@@BODY@@"  # bench.ratec puts the due time here
BATCH = 100
ROOM = "perf"
MEMBERS = tuple(f"m{n:02d}" for n in range(1, 51))
SENDER, RECIPIENT = "test1", "test2"

Target = Literal["ejabberd", "daemon", "floor", "raw"]
Kind = Literal["wrk", "rate", "flood"]


@dataclass(frozen=True, slots=True)
class Hosts:
    host: str
    muc: str


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    kind: Kind
    target: Target
    what: str                  # one line for the tables
    path: str = ""             # URL path after the host
    per_request: int = 1       # messages per request
    connections: int = 16
    durable: bool = True
    carbons: bool = True       # the daemon's XEP-0280 sent copies (ejabberd's API sends none)
    group: bool = False
    rate: float = 1000.0       # requests/s of the latency runs
    shape: str = "plain"       # raw link, bare floor: plain message, or the daemon's shape
    floor: str = ""            # a floor sidecar: its module

    def body(self, hosts: Hosts, text: str = BODY) -> bytes:
        """The request body (JSON), or for the raw link nothing."""
        payload = _payload(self, hosts, text)
        return json.dumps(payload, separators=(",", ":")).encode() if payload is not None \
            else b""


def _payload(s: Scenario, h: Hosts, text: str) -> Any:
    one, two = f"{SENDER}@{h.host}", f"{RECIPIENT}@{h.host}"
    room = f"{ROOM}@{h.muc}"
    if s.target in ("ejabberd", "floor"):
        kind, to, sender = ("groupchat", room, f"{MEMBERS[0]}@{h.host}") if s.group \
            else ("chat", two, one)
        return {"type": kind, "from": sender, "to": to, "subject": "", "body": text}
    if s.target == "raw":
        return None
    if s.path.endswith("send_message"):
        if s.group:
            return {"Type": "groupchat", "From": MEMBERS[0], "To": [{"User": ROOM}],
                    "Host": h.host, "Domain": h.muc, "Body": text}
        return {"From": SENDER, "To": [{"User": RECIPIENT}], "Body": text}
    item = {"from": one, "to": two, "message": f"<message type='chat'><body>{text}</body>"
                                               "</message>"}
    return [item] * s.per_request if s.per_request > 1 else item


EJ_API = "/api/send_message"
QM = "/qtalk/send_message"
QT = "/qtalk/send_thirdmessage"

ALL: dict[str, Scenario] = {s.name: s for s in [
    Scenario("ej16", "wrk", "ejabberd", "ejabberd POST /api/send_message (anchor)", EJ_API),
    Scenario("qm16", "wrk", "daemon", "our send_message, 1 per request", QM),
    Scenario("qm16n", "wrk", "daemon", "qm16 without carbons", QM, carbons=False),
    Scenario("fa16", "wrk", "floor", "floor: naive aiohttp sidecar, the anchor's request",
             EJ_API, floor="bench.floor_aiohttp"),
    Scenario("fh16", "wrk", "floor", "floor: bare httptools protocol, the anchor's request",
             EJ_API, floor="bench.floor_httptools"),
    Scenario("fd16", "wrk", "floor", "floor: httptools + outbox, barrier, audit line at "
             "their least", EJ_API, floor="bench.floor_durable"),
    Scenario("fhm16", "wrk", "floor", "floor: bare httptools protocol writing the daemon's "
             "message", EJ_API, floor="bench.floor_httptools", shape="message"),
    Scenario("qt16", "wrk", "daemon", "our send_thirdmessage, 1 per request", QT),
    Scenario("qb16", "wrk", "daemon", f"our send_thirdmessage, arrays of {BATCH}", QT,
             per_request=BATCH),
    Scenario("qt16m", "wrk", "daemon", "qt16 with the outbox in memory", QT, durable=False),
    Scenario("qt16n", "wrk", "daemon", "qt16 without carbons (the anchor's stanzas)", QT,
             carbons=False),
    Scenario("qb16n", "wrk", "daemon", "qb16 without carbons", QT, per_request=BATCH,
             carbons=False),
    Scenario("qb16m", "wrk", "daemon", "qb16 with the outbox in memory", QT,
             per_request=BATCH, durable=False),
    Scenario("flco", "flood", "raw", "raw component link, plain message (ceiling)"),
    Scenario("flpr", "flood", "raw", "raw link, the daemon's stanzas (+carbon)",
             shape="product"),
    Scenario("flpm", "flood", "raw", "raw link, the daemon's message without its carbon",
             shape="message"),
    Scenario("ej64", "wrk", "ejabberd", "ejabberd /api/send_message, c64", EJ_API,
             connections=64),
    Scenario("qt64", "wrk", "daemon", "our send_thirdmessage, c64", QT, connections=64),
    Scenario("latej", "rate", "ejabberd", "ejabberd /api/send_message, 1,000 req/s", EJ_API),
    Scenario("latqm", "rate", "daemon", "our send_message, 1,000 req/s", QM),
    Scenario("latqt", "rate", "daemon", "our send_thirdmessage, 1,000 req/s", QT),
    Scenario("latqtn", "rate", "daemon", "latqt without carbons", QT, carbons=False),
    Scenario("latqb", "rate", "daemon", f"our arrays of {BATCH}, 10 req/s", QT,
             per_request=BATCH, rate=10.0),
    Scenario("latfl", "rate", "raw", "raw component link, 1,000 msgs/s (floor)"),
    Scenario("latfh", "rate", "floor", "floor: bare httptools protocol, 1,000 req/s", EJ_API,
             floor="bench.floor_httptools"),
    Scenario("latfd", "rate", "floor", "floor: httptools + outbox, barrier, audit, 1,000 req/s",
             EJ_API, floor="bench.floor_durable"),
    Scenario("gej16", "wrk", "ejabberd", "groupchat via /api/send_message", EJ_API,
             group=True),
    Scenario("gqm16", "wrk", "daemon", "groupchat via our send_message", QM, group=True),
]}

DEFAULT = ("ej16", "qm16n", "fa16", "qm16", "fh16", "fhm16", "fd16", "qt16", "qb16", "qt16m",
           "qb16m", "qt16n", "qb16n", "flco", "flpm", "flpr", "latej", "latqm", "latqt", "latqtn",
           "latqb", "latfl", "latfh", "latfd", "gej16", "gqm16")
