"""The stanza values: a serialised stanza with its addresses, and a caller's `<message>` as
parsed.

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


class CallerMessage(msgspec.Struct, frozen=True):
    """A caller's `<message>`, parsed and checked, with the bytes it was parsed from."""

    root: etree._Element
    raw: bytes
    plain: bool  # elements, attributes and text only: no `<!`, `<?` or namespace declaration
    body: etree._Element | None  # the root's `<body>` child, looked for once
