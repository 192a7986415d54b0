"""The inbound stream parser: stanzas out, stream rules enforced."""

from __future__ import annotations

import pytest
from lxml import etree

from component.xmpp.parser import StreamClosed, StreamOpened, StreamParser, StreamViolation

HEADER = (b"<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'"
          b" xmlns='jabber:component:accept' id='abc' from='api.qtalk.test.org'>")


def test_header_stanzas_and_end_split_anywhere() -> None:
    data = HEADER + b"<handshake/><iq type='result' id='1'/></stream:stream>"
    parser = StreamParser(1024)
    events = [e for i in range(len(data)) for e in parser.feed(data[i:i + 1])]
    assert isinstance(events[0], StreamOpened)
    assert events[0].attributes["id"] == "abc"
    assert [etree.QName(e).localname for e in events[1:3]  # type: ignore[arg-type]
            ] == ["handshake", "iq"]
    assert isinstance(events[3], StreamClosed)


@pytest.mark.parametrize("tail", [
    b"<!-- comment -->", b"<?pi x?>", b"<iq><a>&undefined;</a></iq>", b"<iq>unclosed</x>"])
def test_stream_rules(tail: bytes) -> None:
    parser = StreamParser(1024)
    parser.feed(HEADER)
    with pytest.raises(StreamViolation):
        parser.feed(tail)


def test_doctype_refused() -> None:
    with pytest.raises(StreamViolation):
        StreamParser(1024).feed(b"<!DOCTYPE x [<!ENTITY a 'b'>]>" + HEADER[21:])


def test_stanza_size_cap() -> None:
    parser = StreamParser(1024)
    parser.feed(HEADER)
    with pytest.raises(StreamViolation, match="larger than"):
        parser.feed(b"<message><body>" + b"x" * 2000)


def test_tree_stays_empty_between_stanzas() -> None:
    parser = StreamParser(1024)
    parser.feed(HEADER)
    for _ in range(100):
        (stanza,) = parser.feed(b"<iq type='result' id='1'/>")
        assert isinstance(stanza, etree._Element)
        assert stanza.getparent() is None
