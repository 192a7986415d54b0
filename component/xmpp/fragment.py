"""Parsing a caller-supplied `<message>` (send_thirdmessage) into a stanza we can vouch for.

The caller's XML is untrusted: its prolog is checked before libxml2 sees it, and it is parsed
without entities, DTDs, resolvers or network access (xmpp/untrusted.py); it must be exactly one
`<message>` element, and is re-addressed from the request's `from`/`to` (the
original routed on those too). Startalk's body attributes are copied into the carrier.
The same parser reads a stanza back from the bytes the outbox kept of it (`parse_stored`).
"""

from __future__ import annotations

import random
import re
import secrets
import time
from typing import Final

from lxml import etree

from component.errors import BadStanza, TooLarge
from component.jid import Jid
from component.xmpp.stanza_values import CallerMessage, Stanza, StanzaKind
from component.xmpp.stanzas import QTALK_NS, StartalkFields, carrier_xml, split_type, stanza_head
from component.xmpp.untrusted import (
    DECLARATION_REFUSED,
    PARSER_OPTIONS,
    Refused,
    root_start,
    without_resolution,
)
from component.xmpp.xml import attr

# Stanzas written in a client or server namespace are re-rooted into the component stream's.
_STREAM_NAMESPACES: Final = frozenset({"jabber:client", "jabber:server", "jabber:component:accept"})
_CARRIER_TAG: Final = f"{{{QTALK_NS}}}qtalk"


# One parser for the process: building one per message cost more than parsing it. lxml
# parsers are not thread-safe, and the daemon parses on its event loop's thread only.
_PARSER: Final = without_resolution(etree.XMLParser(resolve_entities=False, **PARSER_OPTIONS))
# Message ids must be unique, not secret: a PRNG seeded from the OS once, not a syscall each.
_random_bits: Final = random.Random(secrets.randbits(128)).getrandbits


class _EpochMs:
    """The clock in epoch milliseconds, its text made again only when it moved on: under
    load some twenty messages share each millisecond, and a str() of a number costs what
    the rest of the reading does."""

    def __init__(self) -> None:
        self._ms = -1
        self._text = ""

    def now(self) -> str:
        ms = _time_ns() // 1_000_000
        if ms != self._ms:
            self._ms, self._text = ms, str(ms)
        return self._text


_time_ns: Final = time.time_ns  # held: a module's attribute is looked up at every call
_EPOCH_MS: Final = _EpochMs()


def epoch_ms() -> str:
    """Now, in milliseconds since the epoch, as Startalk writes it (`msec_times`, ids)."""
    return _EPOCH_MS.now()


def new_message_id(now_ms: str | None = None) -> str:
    """An id in the shape of the original's server-made ids: prefix, random, epoch ms.

    `now_ms` is `epoch_ms()` read by the caller: the messages of one request share one
    reading of the clock, their `msec_times` too."""
    # 53 random bits: up to 16 digits, as before; getrandbits is one C call, randrange a
    # loop in Python.
    return f"http{_random_bits(53)}{now_ms or epoch_ms()}"


def parse_message(xml: str, max_bytes: int) -> CallerMessage:
    """Parse exactly one `<message>` element, refusing everything else with a clear reason."""
    raw = xml.encode("utf-8", "surrogatepass")
    if len(raw) > max_bytes:
        raise TooLarge(f"message: {len(raw)} bytes, the limit is {max_bytes}")
    try:
        if root_start(raw) is None:
            raise BadStanza("message: no element")
        root = etree.fromstring(raw, _PARSER)
    except Refused as exc:
        raise BadStanza(f"message: {exc}") from None
    except etree.XMLSyntaxError as exc:
        raise BadStanza(f"message: not well-formed XML: {exc.msg}") from exc
    except ValueError as exc:
        raise BadStanza(f"message: {exc}") from exc
    # The tree walks below are skipped when the text cannot hold what they look for: a
    # DOCTYPE, comment, entity declaration or CDATA needs `<!`, a processing instruction `<?`
    # (and only those can stand beside the root element), a namespace an `xmlns` attribute.
    foreign = b"<!" in raw or b"<?" in raw
    if foreign:
        _refuse_foreign_nodes(root)
    namespaced = b"xmlns" in raw
    if namespaced:
        _strip_stream_namespace(root)
    if root.tag != "message":
        name = etree.QName(root).localname
        raise BadStanza(f"message: expected a <message> element, got <{name}>")
    return CallerMessage(root, raw, plain=not (foreign or namespaced), body=body_of(root))


def body_of(root: etree._Element) -> etree._Element | None:
    """The message's `<body>` child (a loop over the few children: 4× cheaper than find())."""
    for child in root:
        if child.tag == "body":
            return child
    return None


def check_body_length(message: CallerMessage, max_chars: int, xml_chars: int) -> None:
    """The body text has the same limit as send_message's `Body`. A message of `xml_chars`
    characters cannot hold a longer body (an entity takes more characters than it stands for)."""
    if xml_chars <= max_chars:
        return
    body = message.body
    length = len(body.text or "") if body is not None else 0
    if length > max_chars:
        raise TooLarge(f"message: body of {length} characters, the limit is {max_chars}")


def _refuse_foreign_nodes(root: etree._Element) -> None:
    if root.getroottree().docinfo.doctype:  # root_start refuses it first; kept as a net
        raise BadStanza(f"message: {DECLARATION_REFUSED}")
    for node in root.iter(etree.Entity, etree.Comment, etree.ProcessingInstruction):
        raise BadStanza(f"message: {type(node).__name__.lstrip('_').lower()} not allowed")
    if root.getprevious() is not None or root.getnext() is not None:
        raise BadStanza("message: only one element is allowed")


def _strip_stream_namespace(root: etree._Element) -> None:
    for element in root.iter(etree.Element):
        qname = etree.QName(element)
        if qname.namespace in _STREAM_NAMESPACES:
            element.tag = qname.localname
    etree.cleanup_namespaces(root)


def caller_id(message: CallerMessage) -> str | None:
    """The id the caller gave the message (its own, else its body's), if any."""
    return _caller_id(message.root, message.body)


def _caller_id(root: etree._Element, body: etree._Element | None) -> str | None:
    return root.get("id") or (body.get("id") if body is not None else None)


def prepare_message(message: CallerMessage, sender: Jid, recipient: Jid) -> Stanza:
    """Address the caller's message, give it an id, add the carrier (DESIGN.md §5)."""
    root, body = message.root, message.body
    msg_type, startalk_type = split_type(root.get("type", "normal"))
    stanza_id = _caller_id(root, body) or new_message_id()
    fields = StartalkFields(
        msg_type=body.get("msgType") if body is not None else None,
        ma_type=body.get("maType") if body is not None else None,
        extend_info=body.get("extendInfo") if body is not None else None,
        body_id=(body.get("id") or stanza_id) if body is not None else None,
        startalk_type=startalk_type, msec_times=root.get("msec_times"))
    body_needs_id = body is not None and body.get("id") is None
    data = spliced(message, sender, recipient, stanza_id, msg_type, fields, body_needs_id) \
        if message.plain else None
    if data is None:
        data = edited(root, sender, recipient, stanza_id, msg_type, fields, body_needs_id)
    return Stanza("message", stanza_id, sender, recipient, data)


def edited(root: etree._Element, sender: Jid, recipient: Jid, stanza_id: str, msg_type: str,
           fields: StartalkFields, body_needs_id: bool) -> bytes:
    """The message re-addressed by editing its tree: any message parse_message accepts."""
    body = body_of(root)
    if body_needs_id and body is not None:
        body.set("id", stanza_id)
    for old in [child for child in root if child.tag == _CARRIER_TAG]:
        root.remove(old)
    carrier = etree.SubElement(root, _CARRIER_TAG, nsmap={None: QTALK_NS})
    for name, value in fields.carrier_attributes():
        carrier.set(name, value)
    root.attrib.update({"type": msg_type, "id": stanza_id, "from": str(sender),
                        "to": str(recipient)})
    return etree.tostring(root)


# The text of a plain message (CallerMessage.plain) that lxml accepted. Tags and attributes
# can be found in it with patterns: no comment, CDATA or instruction can hide a `<`, a `<`
# cannot stand in text or in an attribute value, and no namespace can rename an element.
_ATTRIBUTE: Final = rb"\s+(?P<name>[^\s=/>]+)\s*=\s*(?:\"[^\"]*\"|'[^']*')"
_ROOT_ATTRIBUTE: Final = re.compile(_ATTRIBUTE)
_ROOT_START: Final = re.compile(
    rb"<message(?P<attributes>(?:" + _ATTRIBUTE + rb")*)\s*(?P<empty>/?)>")
_ROOT_END: Final = re.compile(rb"</message\s*>\s*\Z")
_BODY_START: Final = re.compile(rb"<body(?=[\s/>])")
_READDRESSED: Final = frozenset({b"type", b"id", b"from", b"to"})


def _only_body_start(inner: bytes) -> int | None:
    """Where the name of the one `<body` element in `inner` ends, or None when there is
    none or more than one (two `find`s for the usual single body; the pattern otherwise)."""
    first = inner.find(b"<body")
    if first != -1 and inner.find(b"<body", first + 1) == -1:
        at = first + len(b"<body")
        return at if inner[at:at + 1] in _AFTER_NAME else None
    bodies = list(_BODY_START.finditer(inner))
    return bodies[0].end() if len(bodies) == 1 else None


_AFTER_NAME: Final = frozenset({b" ", b"\t", b"\n", b"\r", b"/", b">"})


def spliced(message: CallerMessage, sender: Jid, recipient: Jid, stanza_id: str,
            msg_type: str, fields: StartalkFields, body_needs_id: bool) -> bytes | None:
    """The same stanza as `edited`, spliced from the caller's text: several times cheaper
    than editing and serialising the tree. None when the text is not in the usual shape
    (whitespace before the root, a second `<body` whose owner the text does not tell)."""
    raw = message.raw
    start = _ROOT_START.match(raw)
    if start is None:
        return None
    if start["empty"]:  # <message .../>
        inner = b""
    elif raw.endswith(b"</message>"):  # the usual end: no pattern to search
        inner = raw[start.end():-len(b"</message>")]
    else:
        end = _ROOT_END.search(raw, start.end())
        if end is None:
            return None
        inner = raw[start.end():end.start()]
    if body_needs_id:
        at = _only_body_start(inner)
        if at is None:  # the message's body is one of several: not told apart here
            return None
        inner = b"".join((inner[:at], f" id='{attr(stanza_id)}'".encode(), inner[at:]))
    attributes = start["attributes"]
    kept = b"".join([found[0] for found in _ROOT_ATTRIBUTE.finditer(attributes)
                     if found["name"] not in _READDRESSED]) if attributes else b""
    head = stanza_head(msg_type, stanza_id, sender, recipient)
    return b"".join((b"<message", head.encode(), kept, b">", inner,
                     carrier_xml(fields).encode(), b"</message>"))


_STORED_KINDS: Final[dict[object, StanzaKind]] = {"message": "message",
                                                  "presence": "presence", "iq": "iq"}


def parse_stored(data: bytes) -> Stanza:
    """The stanza whose bytes the outbox kept (their only copy): the root's name is its kind,
    its `id`, `from` and `to` the rest. Read from a file, so parsed like outside XML; raises
    ValueError when the bytes are not such a stanza."""
    try:
        if root_start(data) is None:
            raise ValueError("no element")
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc.msg}") from None
    kind = _STORED_KINDS.get(root.tag)
    stanza_id, sender, recipient = root.get("id"), root.get("from"), root.get("to")
    if kind is None or stanza_id is None or sender is None or recipient is None:
        raise ValueError(f"not a stanza with an id and both addresses: <{root.tag}>")
    return Stanza(kind, stanza_id, Jid.parse(sender), Jid.parse(recipient), data)
