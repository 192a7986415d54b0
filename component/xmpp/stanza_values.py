"""The stanza values: a serialised stanza with its addresses, a caller's `<message>` as
parsed, and a stanza's place in the outbox.

Builders are in stanzas.py, the caller's messages are parsed in fragment.py, the outbox is
store/outbox.py, the delivery services/delivery.py. Plain classes with Final fields, in a
compiled module (setup.py says why not Structs): compiled code reads their fields natively.
"""

from __future__ import annotations

from typing import Final, Literal

from lxml import etree

from component.jid import Jid

StanzaKind = Literal["message", "presence", "iq"]


class Stanza:
    """One serialised top-level stanza with the addresses it was built for. Immutable; equal
    to another of the same fields.

    The link checks `sender` and `recipient` before writing `data`: ejabberd closes the whole
    stream over a stanza without them, so no other code path may write raw bytes.
    """

    kind: Final[StanzaKind]
    id: Final[str]
    sender: Final[Jid]
    recipient: Final[Jid]
    data: Final[bytes]
    durable: Final[bool]  # kept in the outbox until routed (a carbon is not)

    def __init__(self, kind: StanzaKind, id: str, sender: Jid,
                 recipient: Jid, data: bytes, durable: bool = True) -> None:
        self.kind = kind
        self.id = id
        self.sender = sender
        self.recipient = recipient
        self.data = data
        self.durable = durable

    def _fields(self) -> tuple[str, str, Jid, Jid, bytes, bool]:
        return self.kind, self.id, self.sender, self.recipient, self.data, self.durable

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stanza) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (f"Stanza({self.kind!r}, {self.id!r}, {self.sender!r}, {self.recipient!r}, "
                f"{self.data!r}, durable={self.durable!r})")


class CallerMessage:
    """A caller's `<message>`, parsed and checked, with the bytes it was parsed from."""

    root: Final[etree._Element]
    raw: Final[bytes]
    plain: Final[bool]  # elements, attributes and text only: no `<!`, `<?` or namespace declaration
    body: Final[etree._Element | None]  # the root's `<body>` child, looked for once

    def __init__(self, root: etree._Element, raw: bytes, plain: bool,
                 body: etree._Element | None) -> None:
        self.root = root
        self.raw = raw
        self.plain = plain
        self.body = body


class OutboxRow:
    """A stanza and its sequence number, as the outbox keeps it; equal to another of the
    same seq and stanza."""

    seq: Final[int]
    stanza: Final[Stanza]

    def __init__(self, seq: int, stanza: Stanza) -> None:
        self.seq = seq
        self.stanza = stanza

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OutboxRow) and self.seq == other.seq \
            and self.stanza == other.stanza

    def __hash__(self) -> int:
        return hash((self.seq, self.stanza))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.seq!r}, {self.stanza!r})"


class Entry(OutboxRow):
    """A stanza on its way (services/delivery.py); the outbox keeps it as the row it is (seq,
    stanza). Callers waiting for its acknowledgement wait in AckWaits, by seq."""

    copies: tuple[Stanza, ...]  # courtesy copies, written once this one is routed

    def __init__(self, seq: int, stanza: Stanza, copies: tuple[Stanza, ...] = ()) -> None:
        super().__init__(seq, stanza)
        self.copies = copies
