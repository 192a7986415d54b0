"""Hardened incremental parser for the inbound component stream (RFC 6120 §11.1).

lxml's pull parser with external entities, DTD loading, resolvers and network access off
keeps libxml2's depth, text and amplification limits (xmpp/untrusted.py). The stream's prolog
is checked before the parser sees it, so a DOCTYPE never reaches libxml2 (RFC 6120 §11.1
forbids one); on top of that the stream is refused on any comment or processing instruction
inside it, and on a stanza above a byte cap.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from component.xmpp.untrusted import PARSER_OPTIONS, Refused, root_start, without_resolution

STREAM_NS = "http://etherx.jabber.org/streams"


class StreamViolation(Exception):
    """The peer broke the stream rules; the stream must be closed."""


@dataclass(frozen=True, slots=True)
class StreamOpened:
    attributes: dict[str, str]


@dataclass(frozen=True, slots=True)
class StreamClosed:
    pass


StreamEvent = StreamOpened | StreamClosed | etree._Element


def new_pull_parser() -> etree.XMLPullParser:
    # resolve_entities="internal", not False: with False, libxml2's push parser silently stops
    # reporting events after an undefined entity instead of failing. Internal entities need a
    # DTD, and a DOCTYPE is refused at the stream's first event, before any is referenced.
    return without_resolution(etree.XMLPullParser(
        events=("start", "end", "comment", "pi"), resolve_entities="internal",
        **PARSER_OPTIONS))


class StreamParser:
    """Feed bytes, get stream events: the header, complete top-level stanzas, the end."""

    def __init__(self, max_stanza_bytes: int) -> None:
        self._parser = new_pull_parser()
        self._prolog: bytes | None = b""  # held back until the root's `<` is in it
        self._depth = 0
        self._root: etree._Element | None = None
        self._pending_bytes = 0
        self._max = max_stanza_bytes

    def feed(self, data: bytes) -> list[StreamEvent]:
        self._pending_bytes += len(data)
        if self._prolog is not None:
            data = self._checked_prolog(data)
            if not data:
                return []
        try:
            self._parser.feed(data)
            events = [e for e in map(self._event, self._parser.read_events()) if e is not None]
        except etree.XMLSyntaxError as exc:
            if "Extra content at the end" in str(exc) and self._root is not None:
                return [StreamClosed()]
            raise StreamViolation(f"not well-formed: {exc}") from exc
        except Refused as exc:  # NoResolution: libxml2 asked to load something
            raise StreamViolation(f"{exc} in an XMPP stream") from None
        if self._depth > 1 and self._pending_bytes > self._max:
            raise StreamViolation(f"stanza larger than {self._max} bytes")
        return events

    def _checked_prolog(self, data: bytes) -> bytes:
        """The bytes to parse once the prolog is whole and clean; b"" while it is not."""
        assert self._prolog is not None
        prolog = self._prolog + data
        try:
            complete = root_start(prolog) is not None
        except Refused as exc:
            raise StreamViolation(f"{exc} in an XMPP stream") from None
        if complete:
            self._prolog = None
            return prolog
        if len(prolog) > self._max:
            raise StreamViolation(f"stream header larger than {self._max} bytes")
        self._prolog = prolog
        return b""

    def _event(self, item: tuple[str, object]) -> StreamEvent | None:
        kind, node = item
        if kind in ("comment", "pi"):
            raise StreamViolation(f"{kind} not allowed in an XMPP stream")
        assert isinstance(node, etree._Element)
        if kind == "start":
            self._depth += 1
            if self._depth == 1:
                return self._opened(node)
            return None
        self._depth -= 1
        if self._depth == 0:
            return StreamClosed()
        if self._depth == 1:
            return self._stanza(node)
        return None

    def _opened(self, root: etree._Element) -> StreamOpened:
        docinfo = root.getroottree().docinfo
        if docinfo.doctype or docinfo.internalDTD is not None:
            raise StreamViolation("DOCTYPE not allowed in an XMPP stream")
        if root.tag != f"{{{STREAM_NS}}}stream":
            raise StreamViolation(f"unexpected stream root {root.tag!r}")
        self._root = root
        return StreamOpened({str(k): str(v) for k, v in root.attrib.items()})

    def _stanza(self, element: etree._Element) -> etree._Element:
        self._pending_bytes = 0
        if any(True for _ in element.iter(etree.Entity)):
            raise StreamViolation("entity reference not allowed")
        if self._root is not None:
            self._root.remove(element)
        return element
