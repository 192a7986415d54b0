"""Floor reference (c): the bare httptools protocol, plus the least the daemon's guarantees cost.

    python -m bench.floor_durable --port P --component-port C --domain D --secret S --store F

`bench.floor_httptools` answers before anything is kept. The daemon answers a message once it
is durable and written to the server, and keeps it until the server acknowledged it (README,
"Delivery"); it also writes an audit line per request. This floor does exactly that much and
nothing more, each step in the cheapest form we know, all on the loop's thread:
* the requests that complete in one loop turn are one SQLite transaction (WAL, synchronous
  NORMAL, an exclusive lock, secure_delete off, 16 KiB pages: the daemon's outbox settings),
  one row `(seq, stanza)` per message;
* their stanzas go to the link in one write, their audit lines to stderr in one write, and
  then each is answered, in order per connection;
* a ping barrier, at most one on its way and paced 5 ms apart as the daemon's, acknowledges
  every row written before it; the rows it covers are deleted in the next transaction.
No auth, no validation beyond the JSON's types, no recipient check, no idempotency, no
metrics, no limits, no replay after a restart: what remains is the floor under the daemon's
35 µs budget (issue 13). Measurement only.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import time
from pathlib import Path

from bench.floor import BadRequest, ChatMessage, Closer, FloorLink, run
from bench.floor_httptools import BAD_REQUEST, NOT_FOUND, OK, PATH, FloorProtocol, closer
from component.services.delivery import BARRIER_INTERVAL  # paced as the daemon's
from devenv.proc import LOOPBACK

PONG = re.compile(rb"id=['\"]fb(\d+)['\"]")
INSERT = "INSERT INTO outbox (seq, data) VALUES (?, ?)"
DELETE = "DELETE FROM outbox WHERE seq <= ?"


def open_outbox(path: Path) -> sqlite3.Connection:
    for stale in (path, path.with_name(path.name + "-wal")):
        stale.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    for pragma in ("page_size = 16384", "locking_mode = EXCLUSIVE", "journal_mode = WAL",
                   "synchronous = NORMAL", "secure_delete = OFF"):
        db.execute(f"PRAGMA {pragma}")
    db.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    return db


class DurableProtocol(FloorProtocol):
    """FloorProtocol whose requests are answered by the turn's commit, not at once."""

    def __init__(self, outbox: TurnOutbox) -> None:
        super().__init__(outbox.link.writer, outbox.link.message)
        self.outbox = outbox
        self.remote = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.remote = str(transport.get_extra_info("peername")[0])

    def on_message_complete(self) -> None:
        self.outbox.add(self, self._message(), self.parser.should_keep_alive())

    def _message(self) -> ChatMessage | bytes:
        """The message to keep and send, or the answer for a request refused at once."""
        if self.url != PATH or self.parser.get_method() != b"POST":
            return NOT_FOUND
        try:
            return self.message(b"".join(self.body))
        except BadRequest:
            return BAD_REQUEST

    def reply(self, answer: bytes, keep_alive: bool) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            return
        self.transport.write(answer)
        if not keep_alive:
            self.transport.close()


Pending = tuple[DurableProtocol, ChatMessage | bytes, bool, float]


class TurnOutbox:
    """The requests of one loop turn: kept, written, logged, then answered, together."""

    def __init__(self, link: FloorLink, db: sqlite3.Connection) -> None:
        self.link, self.db = link, db
        self.loop = asyncio.get_running_loop()
        self.turn: list[Pending] = []
        self.scheduled = False
        self.seq = 0  # the last row written
        self.settled = self.deleted = 0  # rows up to these: acknowledged, and deleted
        self.barriers: dict[int, int] = {}  # the barrier on its way: the last row it covers
        self.barrier_number = 0
        self.barrier_due: asyncio.TimerHandle | None = None
        self.barrier_sent_at = -BARRIER_INTERVAL
        self.ping = (f"<iq type='get' id='fb{{}}' from='{link.component}' to='{link.server}'>"
                     "<ping xmlns='urn:xmpp:ping'/></iq>")
        link.on_data = self.on_data

    def add(self, connection: DurableProtocol, item: ChatMessage | bytes,
            keep_alive: bool) -> None:
        self.turn.append((connection, item, keep_alive, time.perf_counter()))
        self._schedule()

    def _schedule(self) -> None:
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self._commit_turn)

    def _commit_turn(self) -> None:
        self.scheduled = False
        turn, self.turn = self.turn, []
        rows = []
        for _, item, _, _ in turn:
            if isinstance(item, ChatMessage):
                self.seq += 1
                rows.append((self.seq, item.data))
        with self.db:
            if rows:
                self.db.executemany(INSERT, rows)
            if self.settled > self.deleted:
                self.db.execute(DELETE, (self.settled,))
                self.deleted = self.settled
        if rows:
            self.link.writer.write(b"".join([data for _, data in rows]))
        now, lines = time.perf_counter(), []
        for connection, item, keep_alive, started in turn:
            if isinstance(item, ChatMessage):
                lines.append(f"INFO audit: remote={connection.remote} endpoint=send_message "
                             f"acting_as={item.sender} targets={item.to} "
                             f"stanza_ids={item.id} status=200 "
                             f"ms={(now - started) * 1000:.1f}\n")
                connection.reply(OK, keep_alive)
            else:
                connection.reply(item, keep_alive)
        if lines:
            os.write(2, "".join(lines).encode())
        if rows:
            self._ask_barrier()

    def _ask_barrier(self) -> None:
        if self.barriers or self.barrier_due is not None:
            return  # the one on its way asks for the next when it returns
        due = self.barrier_sent_at + BARRIER_INTERVAL
        if self.loop.time() < due:
            self.barrier_due = self.loop.call_at(due, self._send_barrier)
        else:
            self._send_barrier()

    def _send_barrier(self) -> None:
        self.barrier_due = None
        self.barrier_number += 1
        self.barriers[self.barrier_number] = self.seq
        self.barrier_sent_at = self.loop.time()
        self.link.writer.write(self.ping.format(self.barrier_number).encode())

    def on_data(self, data: bytes) -> None:
        """The server's answers: a returned barrier acknowledges the rows it covers."""
        for number in PONG.findall(data):
            covered = self.barriers.pop(int(number), None)
            if covered is not None:
                self.settled = max(self.settled, covered)
        if self.settled > self.deleted:
            self._schedule()  # the delete joins the next transaction
        if self.seq > self.settled:
            self._ask_barrier()


async def serve(link: FloorLink, port: int) -> Closer:
    outbox = TurnOutbox(link, open_outbox(link.store))
    server = await asyncio.get_running_loop().create_server(
        lambda: DurableProtocol(outbox), LOOPBACK, port)
    return closer(server)


if __name__ == "__main__":
    run(serve, __doc__.splitlines()[0] if __doc__ else "")
