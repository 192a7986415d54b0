"""Pure builders for outbound stanzas: typed values in, a checked `Stanza` out.

No I/O here. Hot-path messages are f-string templates over the strict escaper of `xml.py`;
Startalk's fields travel twice (DESIGN.md §5): where Startalk put them, for servers that keep
them, and in the `<qtalk xmlns="urn:qtalk:message"/>` carrier that stock servers keep.
"""

from __future__ import annotations

import hashlib
from typing import Final

from component.jid import Jid
from component.xmpp.stanza_values import Stanza
from component.xmpp.xml import attr, plain_attributes, text

XMPP_MESSAGE_TYPES: Final = frozenset({"chat", "groupchat", "headline", "normal", "error"})
QTALK_NS: Final = "urn:qtalk:message"
NOTIFY_NS: Final = "jabber:x:presence_notify"
CARBONS_NS: Final = "urn:xmpp:carbons:2"
FORWARD_NS: Final = "urn:xmpp:forward:0"
PING_NS: Final = "urn:xmpp:ping"


# The carrier's attributes, in the order they are written; the body repeats some of them.
_CARRIER_NAMES: Final = ("msgType", "maType", "extendInfo", "id", "type", "msec_times", "carbon")
_SHARED_NAMES: Final = _CARRIER_NAMES[:3]  # on the body too, after its id


class StartalkFields:
    """Startalk's message extensions, each None when the caller did not give it. A plain class
    with Final fields, not a msgspec Struct (setup.py says why)."""

    def __init__(self, msg_type: str | None = None, ma_type: str | None = None,
                 extend_info: str | None = None, body_id: str | None = None,
                 startalk_type: str | None = None, msec_times: str | None = None,
                 carbon: bool = False) -> None:
        self.msg_type: Final = msg_type
        self.ma_type: Final = ma_type
        self.extend_info: Final = extend_info
        self.body_id: Final = body_id  # the carrier's id; build_message writes the stanza's
        self.startalk_type: Final = startalk_type  # a type XMPP lacks (revoke, readmark, ...)
        self.msec_times: Final = msec_times
        self.carbon: Final = carbon

    def with_body_id(self, body_id: str) -> StartalkFields:
        return StartalkFields(self.msg_type, self.ma_type, self.extend_info, body_id,
                              self.startalk_type, self.msec_times, self.carbon)

    def carrier_values(self) -> tuple[str | None, ...]:
        """The carrier's attribute values in _CARRIER_NAMES' order, None for absent ones."""
        return (self.msg_type, self.ma_type, self.extend_info, self.body_id, self.startalk_type,
                self.msec_times, "true" if self.carbon else None)

    def carrier_attributes(self) -> list[tuple[str, str]]:
        values = self.carrier_values()
        return [(name, value) for name, value in zip(_CARRIER_NAMES, values, strict=True)
                if value is not None]


def _attrs(pairs: list[tuple[str, str]]) -> str:
    if plain_attributes([value for _, value in pairs]):
        return _plain(pairs)
    return "".join([f" {name}='{attr(value, name)}'" for name, value in pairs])


def _plain(pairs: list[tuple[str, str]]) -> str:
    """Attributes whose values `plain_attributes` found to need nothing."""
    return "".join([f" {name}='{value}'" for name, value in pairs])


def carrier_xml(fields: StartalkFields) -> str:
    texts, shared, type_attr, msec_attr, carbon_attr = _carrier_parts(fields)
    if plain_attributes(texts):
        body_id = f" id='{fields.body_id}'" if fields.body_id is not None else ""
        return f"<qtalk xmlns='{QTALK_NS}'{shared}{body_id}{type_attr}{msec_attr}{carbon_attr}/>"
    return f"<qtalk xmlns='{QTALK_NS}'{_attrs(fields.carrier_attributes())}/>"


def _carrier_parts(f: StartalkFields) -> tuple[tuple[str, ...], str, str, str, str]:
    """The carrier's given values as texts ("" for absent ones), for `plain_attributes`; and
    its attributes but its id, written as they are, to be used only when that check passed:
    those the body shares, which come before the id, then the carrier's own, after it, one
    by one (a message's head repeats its `msec_times`).

    Each spelt out in _CARRIER_NAMES' order: a generic join over the names cost a tenth of
    send_message's handler (tests/unit/test_stanzas.py holds this to `_attrs`' bytes). The
    fields are read once for the check and the attributes both: two functions, and their
    texts unpacked into build_message's check, cost 0.6k instructions more a message."""
    msg_type, ma_type, extend_info = f.msg_type, f.ma_type, f.extend_info
    startalk_type, msec_times = f.startalk_type, f.msec_times
    texts = (msg_type or "", ma_type or "", extend_info or "", f.body_id or "",
             startalk_type or "", msec_times or "")
    shared = (f" msgType='{msg_type}'" if msg_type is not None else "") \
        + (f" maType='{ma_type}'" if ma_type is not None else "") \
        + (f" extendInfo='{extend_info}'" if extend_info is not None else "")
    return (texts, shared,
            f" type='{startalk_type}'" if startalk_type is not None else "",
            f" msec_times='{msec_times}'" if msec_times is not None else "",
            " carbon='true'" if f.carbon else "")


def split_type(requested: str) -> tuple[str, str | None]:
    """The XMPP type to send and the Startalk type for the carrier, if XMPP lacks it."""
    if requested in XMPP_MESSAGE_TYPES:
        return requested, None
    return "chat", requested


def stanza_head(stanza_type: str, stanza_id: str, sender: Jid, recipient: Jid,
                *extra: tuple[str, str]) -> str:
    """The attributes of a stanza's start tag, escaped, each with its leading space."""
    sender_text, recipient_text = sender.text, recipient.text
    if not extra and plain_attributes((stanza_type, stanza_id, sender_text, recipient_text)):
        return f" type='{stanza_type}' id='{stanza_id}' from='{sender_text}' to='{recipient_text}'"
    return _attrs([("type", stanza_type), ("id", stanza_id), ("from", sender_text),
                   ("to", recipient_text), *extra])


def build_message(sender: Jid, recipient: Jid, *, stanza_id: str, msg_type: str, body: str,
                  fields: StartalkFields) -> Stanza:
    """A Startalk chat/groupchat message, with the carrier child (DESIGN.md §5). The body and
    the carrier carry the stanza's id as Startalk's body id, never `fields.body_id`.

    The hot path's builder: every attribute value is checked in one search (the body's
    attributes repeat the carrier's values), and escaped one by one only when that finds
    something; the other builders go through `_attrs` per element."""
    sender_text, recipient_text = sender.text, recipient.text
    texts, shared, type_attr, msec_attr, carbon_attr = _carrier_parts(fields)
    # A tuple joined to the carrier's, not unpacked into a list made a tuple (0.3k more).
    if not plain_attributes((msg_type, stanza_id, sender_text, recipient_text) + texts):  # noqa: RUF005
        return _built_message(sender, recipient, stanza_id, msg_type, body, fields)
    # The head writes the carrier's `msec_times` attribute unless it is empty: made once
    # for both (an f-string of its own cost 0.4k instructions).
    head_msec = msec_attr if fields.msec_times else ""
    data = (f"<message type='{msg_type}' id='{stanza_id}' from='{sender_text}' "
            f"to='{recipient_text}'{head_msec}><body id='{stanza_id}'{shared}>"
            f"{text(body, 'Body')}</body><qtalk xmlns='{QTALK_NS}'{shared} id='{stanza_id}'"
            f"{type_attr}{msec_attr}{carbon_attr}/></message>")
    return Stanza("message", stanza_id, sender, recipient, data.encode())


def _built_message(sender: Jid, recipient: Jid, stanza_id: str, msg_type: str, body: str,
                   fields: StartalkFields) -> Stanza:
    """build_message for values that need escaping (or refusing), attribute by attribute."""
    head = [("type", msg_type), ("id", stanza_id), ("from", sender.text), ("to", recipient.text)]
    if fields.msec_times:
        head.append(("msec_times", fields.msec_times))
    carrier = fields.with_body_id(stanza_id).carrier_attributes()
    body_attrs = [pair for pair in carrier if pair[0] == "id"] + \
        [pair for pair in carrier if pair[0] in _SHARED_NAMES]
    data = (f"<message{_attrs(head)}><body{_attrs(body_attrs)}>{text(body, 'Body')}</body>"
            f"<qtalk xmlns='{QTALK_NS}'{_attrs(carrier)}/></message>")
    return Stanza("message", stanza_id, sender, recipient, data.encode())


def build_sent_carbon(owner: Jid, forwarded: Stanza, *, stanza_id: str) -> Stanza:
    """An XEP-0280 `sent` carbon telling the sender's own clients what was sent as them.

    The original API routed a copy "from the recipient" marked carbon_message="true"; a stock
    server strips that attribute, so the copy would read as a message *from* the recipient.
    """
    bare = owner.bare
    inner = forwarded.data.replace(b"<message", b"<message xmlns='jabber:client'", 1)
    head = stanza_head("chat", stanza_id, bare, bare)
    data = b"".join((
        f"<message{head}><sent xmlns='{CARBONS_NS}'><forwarded xmlns='{FORWARD_NS}'>".encode(),
        inner, b"</forwarded></sent><no-store xmlns='urn:xmpp:hints'/></message>"))
    return Stanza("message", stanza_id, bare, bare, data, durable=False)


def build_notify(sender: Jid, recipient: Jid, *, stanza_id: str, category: str,
                 data: str) -> Stanza:
    """Startalk's event notification as a headline message (DESIGN.md §5).

    The original's `<presence type="notify">` never reaches a client of a stock server; a
    headline is, like that presence, delivered to online resources and never stored offline.
    """
    head = stanza_head("headline", stanza_id, sender, recipient)
    notify = _attrs([("category", category), ("data", data)])
    payload = f"<message{head}><notify xmlns='{NOTIFY_NS}'{notify}/></message>"
    return Stanza("message", stanza_id, sender, recipient, payload.encode())


def build_ping(sender: Jid, recipient: Jid, *, stanza_id: str) -> Stanza:
    head = stanza_head("get", stanza_id, sender, recipient)
    return Stanza("iq", stanza_id, sender, recipient,
                  f"<iq{head}><ping xmlns='{PING_NS}'/></iq>".encode())


def build_iq(sender: Jid, recipient: Jid, *, stanza_id: str, iq_type: str,
             payload: bytes = b"") -> Stanza:
    """An iq around an already serialised payload (built with lxml by the callers)."""
    head = stanza_head(iq_type, stanza_id, sender, recipient)
    return Stanza("iq", stanza_id, sender, recipient,
                  f"<iq{head}>".encode() + payload + b"</iq>")


def build_iq_error(sender: Jid, recipient: Jid, *, stanza_id: str, error_type: str,
                   condition: str, message: str = "") -> Stanza:
    text_el = (f"<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>{text(message)}</text>"
               if message else "")
    payload = (f"<error type='{attr(error_type)}'><{condition} "
               f"xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>{text_el}</error>").encode()
    return build_iq(sender, recipient, stanza_id=stanza_id, iq_type="error", payload=payload)


def stream_header(domain: str) -> bytes:
    return (f"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
            f"xmlns:stream='http://etherx.jabber.org/streams' to='{attr(domain)}'>").encode()


def handshake(stream_id: str, secret: str) -> bytes:
    """XEP-0114 §3: lowercase hex SHA-1 of the stream id followed by the secret."""
    digest = hashlib.sha1((stream_id + secret).encode(), usedforsecurity=False).hexdigest()
    return f"<handshake>{digest}</handshake>".encode()


STREAM_END: Final = b"</stream:stream>"
