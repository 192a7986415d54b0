"""The stanza values: a serialised stanza with its addresses, Startalk's message fields, and
a caller's `<message>` as parsed.

Builders are in stanzas.py, the caller's messages are parsed in fragment.py. A module of its
own, left interpreted when the request path is compiled (setup.py): mypyc drops the keywords
of a class statement (python/mypy#21938), and these Structs' `frozen` and `gc=False` are in
them.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from lxml import etree

from component.jid import Jid

StanzaKind = Literal["message", "presence", "iq"]
# The carrier's attributes, in the order they are written; the body repeats some of them.
CARRIER_NAMES = ("msgType", "maType", "extendInfo", "id", "type", "msec_times", "carbon")


class Stanza(msgspec.Struct, frozen=True, gc=False):
    """One serialised top-level stanza with the addresses it was built for.

    The link checks `sender` and `recipient` before writing `data`: ejabberd closes the whole
    stream over a stanza without them, so no other code path may write raw bytes.
    """

    kind: StanzaKind
    id: str
    sender: Jid
    recipient: Jid
    data: bytes
    durable: bool = True  # kept in the outbox until routed (a carbon is not)


class StartalkFields(msgspec.Struct, frozen=True, gc=False):
    """Startalk's message extensions, each None when the caller did not give it."""

    msg_type: str | None = None
    ma_type: str | None = None
    extend_info: str | None = None
    body_id: str | None = None  # the carrier's id; build_message writes the stanza's
    startalk_type: str | None = None  # a message type that XMPP lacks (revoke, readmark, ...)
    msec_times: str | None = None
    carbon: bool = False

    def carrier_values(self) -> tuple[str | None, ...]:
        """The carrier's attribute values in CARRIER_NAMES' order, None for absent ones."""
        return (self.msg_type, self.ma_type, self.extend_info, self.body_id, self.startalk_type,
                self.msec_times, "true" if self.carbon else None)

    def carrier_attributes(self) -> list[tuple[str, str]]:
        values = self.carrier_values()
        return [(name, value) for name, value in zip(CARRIER_NAMES, values, strict=True)
                if value is not None]


class CallerMessage(msgspec.Struct, frozen=True):
    """A caller's `<message>`, parsed and checked, with the bytes it was parsed from."""

    root: etree._Element
    raw: bytes
    plain: bool  # elements, attributes and text only: no `<!`, `<?` or namespace declaration
    body: etree._Element | None  # the root's `<body>` child, looked for once
