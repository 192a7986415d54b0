"""What libxml2 may do with XML we did not write: read the bytes it is given, nothing else.

Two lines of defence, both used by every parser of outside XML (a caller's `<message>`, the
inbound component stream). First, the prolog (what comes before the root element) is checked
before libxml2 sees a byte: only a UTF-8 byte order mark, whitespace and processing
instructions (the XML declaration is one) may stand there, so a DOCTYPE, and with it every
entity declaration and parameter entity, never reaches the parser. libxml2 reads an external
parameter entity while it parses the internal subset even with `resolve_entities=False,
load_dtd=False, no_network=True` (`file:///dev/zero` never returns). After the root's start
tag a `<!DOCTYPE` is a syntax error, never a DTD. Second, the parsers themselves are built
with every loading option off, the document's own encoding declaration ignored (the check
above read the bytes as UTF-8, so libxml2 must too), and a resolver that refuses every
resource libxml2 asks for. XInclude is never processed (no `xinclude()` call exists).

Every refused declaration gets the same answer, whatever it names: no file's existence,
type or content shows in it.
"""

from __future__ import annotations

from typing import Any, NoReturn, TypeVar

from lxml import etree

DECLARATION_REFUSED = "DOCTYPE, entity declarations and comments are not allowed"
_BOM = b"\xef\xbb\xbf"
_SPACE = frozenset(b" \t\r\n")  # XML 1.0 §2.3 S
_LT, _QUESTION, _BANG = ord("<"), ord("?"), ord("!")

# The options of every parser of outside XML (lxml.etree.XMLParser and XMLPullParser).
PARSER_OPTIONS: dict[str, Any] = {
    "encoding": "utf-8", "load_dtd": False, "no_network": True, "dtd_validation": False,
    "attribute_defaults": False, "huge_tree": False, "remove_blank_text": False,
    "collect_ids": False,
}


class Refused(ValueError):
    """The XML holds what no parser of ours may see; the message says what, never more."""


class NoResolution(etree.Resolver):
    """Refuses every URL libxml2 would load (DTD, entity, XInclude): nothing is ever read.
    Returning None would let libxml2's own loader read it instead."""

    def resolve(self, system_url: str | None, public_id: str | None, context: object, /
                ) -> NoReturn:
        raise Refused(DECLARATION_REFUSED)


Parser = TypeVar("Parser", bound="etree.XMLParser[Any]")


def without_resolution(parser: Parser) -> Parser:
    """The parser, with NoResolution as its only resolver."""
    parser.resolvers.add(NoResolution())
    return parser


def root_start(data: bytes) -> int | None:
    """Where the root element's `<` is in `data`, or None when `data` ends before it does
    (more may come). Raises Refused on `<!` before the root (DOCTYPE, comment, CDATA: none
    may stand there) and on anything but a BOM, whitespace and instructions."""
    at = len(_BOM) if data.startswith(_BOM) else 0
    if at == 0 and _BOM.startswith(data[:3]) and len(data) < len(_BOM):
        return None  # the start of a BOM, split by the network
    end = len(data)
    while True:
        while at < end and data[at] in _SPACE:
            at += 1
        if at + 1 >= end:
            if at < end and data[at] != _LT:
                raise Refused("text before the element")
            return None
        if data[at] != _LT:
            raise Refused("text before the element")
        if data[at + 1] == _BANG:
            raise Refused(DECLARATION_REFUSED)
        if data[at + 1] != _QUESTION:
            return at
        closed = data.find(b"?>", at + 2)  # an instruction ends at its first `?>` (§2.6)
        if closed < 0:
            return None
        at = closed + 2
