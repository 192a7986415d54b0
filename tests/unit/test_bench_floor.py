"""bench.floor's one stanza: ejabberd's send_message JSON in, an escaped chat message out;
and bench.floor_durable's order: kept, written, answered, then deleted once acknowledged."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from pathlib import Path
from typing import cast

import pytest

from bench import floor_durable, floorpath
from bench.floor import BadRequest, FloorLink, chat_stanza
from bench.hotpath import post
from component.services.delivery import BARRIER_INTERVAL
from tests.unit.fakes import WrittenTransport


def test_every_attribute_and_text_is_escaped() -> None:
    stanza = chat_stanza(b'{"type":"chat","from":"a\'b@x","to":"c&d@x","subject":"",'
                         b'"body":"1 < 2 & <b>"}')
    assert re.fullmatch(
        rb"<message type=\"chat\" id='floor\d+' from=\"a'b@x\" to=\"c&amp;d@x\">"
        rb"<body>1 &lt; 2 &amp; &lt;b&gt;</body></message>", stanza)


def test_a_subject_becomes_its_element() -> None:
    stanza = chat_stanza(b'{"type":"chat","from":"a@x","to":"b@x","subject":"s","body":"t"}')
    assert b"<subject>s</subject><body>t</body>" in stanza


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"from":"a@x","to":"b@x"}',
                                  b'{"from":"a@x","to":"b@x","body":5}'])
def test_what_is_not_ejabberds_request_is_refused(body: bytes) -> None:
    with pytest.raises(BadRequest):
        chat_stanza(body)


class _Writer:
    """The component link at the port: keeps what is written."""

    def __init__(self) -> None:
        self.data: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.data.append(data)


async def test_the_durable_floor_answers_after_the_commit_and_deletes_after_the_barrier(
        tmp_path: Path) -> None:
    writer = _Writer()
    link = FloorLink(cast(asyncio.StreamWriter, writer), "api.x", "x", tmp_path / "f.db")
    outbox = floor_durable.TurnOutbox(link, floor_durable.open_outbox(link.store))
    connection, transport = floor_durable.DurableProtocol(outbox), WrittenTransport()
    connection.connection_made(transport)
    body = b'{"type":"chat","from":"a@x","to":"b@x","subject":"","body":"t"}'
    request = post("/api/send_message", body)
    connection.data_received(request * 2 + post("/api/send_message", b"not json"))
    assert transport.written == []  # nothing is answered before the turn's commit
    await asyncio.sleep(0)
    assert [answer.split(b"\r\n")[0] for answer in transport.written] == \
        [b"HTTP/1.1 200 OK"] * 2 + [b"HTTP/1.1 400 Bad Request"]
    assert outbox.db.execute("SELECT count(*) FROM outbox").fetchone() == (2,)
    assert b"".join(writer.data).count(b"<message") == 2
    await asyncio.sleep(BARRIER_INTERVAL * 2)
    ping = re.search(rb"id='(fb\d+)'", writer.data[-1])
    assert ping is not None
    link.on_data(b"<iq type='result' id='" + ping[1] + b"'/>")
    await asyncio.sleep(0)
    assert outbox.db.execute("SELECT count(*) FROM outbox").fetchone() == (0,)


@pytest.mark.parametrize("floor", ["durable", "httptools"])
def test_floorpath_drives_a_floor_to_the_end(floor: str, capsys: pytest.CaptureFixture[str]
                                              ) -> None:
    # The measurement runs a loop of its own: a thread keeps it off the tests' loop.
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        thread.submit(floorpath.main, ["--floor", floor, "--requests", "300"]).result(30)
    assert re.search(rf"300 requests to the {floor} floor, 16 connections, per request: "
                     r"[0-9.]+ µs CPU", capsys.readouterr().out)
