"""Strict XML escaping for the f-string stanza templates of the hot path.

Text that XML 1.0 forbids (most C0 controls, lone surrogates, U+FFFE/U+FFFF) is refused, not
escaped: a single such character in a stanza makes ejabberd close the whole component stream.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from component.errors import BadRequest

_ALLOWED: Final = "\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff"  # XML 1.0 Char
_FORBIDDEN: Final = re.compile(f"[^{_ALLOWED}]")
_TEXT: Final = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
# In attributes, tabs and newlines are escaped too, or attribute-value normalisation turns
# them into spaces on the receiving side.
_ATTR: Final = str.maketrans({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", "'": "&apos;", '"': "&quot;",
    "\r": "&#13;", "\n": "&#10;", "\t": "&#9;",
})


class ForbiddenCharacter(BadRequest):
    """The text holds a character that XML 1.0 does not allow."""


def check_chars(text: str, what: str) -> str:
    match = _FORBIDDEN.search(text)
    if match:
        raise ForbiddenCharacter(
            f"{what}: character U+{ord(match.group()):04X} is not allowed in XML")
    return text


# Most values (JIDs, ids, types) need neither refusing nor escaping: one search says so.
# Each pattern is one negated class, the XML 1.0 Char class without what must be escaped
# (an alternation of two classes searched 3-5 times slower, on every attribute of a stanza).
_NO_MARKUP: Final = "\x20\x21\x23-\x25\x28-\x3b\x3d\x3f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff"
_TEXT_WORK: Final = re.compile(f"[^\t\n\"'{_NO_MARKUP}]")
_ATTR_WORK: Final = re.compile(f"[^{_NO_MARKUP}]")


def _plain_ascii_table(allowed: str) -> bytes:
    """A `bytes.translate` table that keeps each allowed byte and changes every other one."""
    return bytes(c if chr(c) in allowed else (1 if c == 0 else 0) for c in range(256))


_PRINTABLE: Final = "".join(map(chr, range(0x20, 0x7f)))
_PLAIN_TEXT: Final = _plain_ascii_table(
    "\t\n" + _PRINTABLE.translate({ord(c): None for c in "&<>"}))
_PLAIN_ATTR: Final = _plain_ascii_table(_PRINTABLE.translate({ord(c): None for c in "&<>'\""}))


def _markup_free(value: str, plain: bytes) -> bool:
    """ASCII that needs nothing where `plain` (a table above) is what may stand as it is: most
    ids, JIDs, types and bodies. `isascii` reads a flag, and one `translate` pass in C costs
    less than a search of the Char class, or `isprintable` and a scan per character escaped
    (a third of the instructions on a message's values)."""
    if not value.isascii():
        return False
    data = value.encode()
    return data.translate(plain) == data


def text(value: str, what: str = "text") -> str:
    if _markup_free(value, _PLAIN_TEXT) or not _TEXT_WORK.search(value):
        return value
    return check_chars(value, what).translate(_TEXT)


def plain_attributes(values: Sequence[str]) -> bool:
    """True when none of these values needs escaping or refusing as an attribute value:
    one search over them all instead of one per attribute (most stanzas' values are JIDs,
    ids, types and digits)."""
    joined = "".join(values)
    return _markup_free(joined, _PLAIN_ATTR) or _ATTR_WORK.search(joined) is None


def attr(value: str, what: str = "attribute") -> str:
    if _markup_free(value, _PLAIN_ATTR) or not _ATTR_WORK.search(value):
        return value
    return check_chars(value, what).translate(_ATTR)
