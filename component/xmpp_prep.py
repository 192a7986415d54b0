"""Nodeprep and resourceprep (RFC 3920 appendices A and B, over RFC 3454 stringprep).

ejabberd prepares every JID with these profiles and answers `bad-request` for one that fails;
checking here first turns such input into a 400 for the caller instead of a 502 from the
server. The stdlib `stringprep` tables are Unicode 3.2's, the same ones ejabberd uses.
"""

from __future__ import annotations

import stringprep
from collections.abc import Callable
from unicodedata import ucd_3_2_0

# RFC 3920 appendix A.5: nodeprep prohibits these besides the stringprep tables.
_NODE_EXTRA = frozenset("\"&'/:<>@")
_COMMON_PROHIBITED: tuple[Callable[[str], bool], ...] = (
    stringprep.in_table_c12, stringprep.in_table_c21, stringprep.in_table_c22,
    stringprep.in_table_c3, stringprep.in_table_c4, stringprep.in_table_c5,
    stringprep.in_table_c6, stringprep.in_table_c7, stringprep.in_table_c8,
    stringprep.in_table_c9, stringprep.in_table_a1)


def nodeprep(text: str) -> str:
    """The prepared localpart (case-folded, NFKC), or ValueError naming the bad character."""
    if text.isascii():
        folded = text.lower()
        bad = next((c for c in folded if c in _NODE_EXTRA or c <= " " or c == "\x7f"), None)
        if bad is not None:
            raise ValueError(f"character {bad!r} is not allowed in a localpart")
        return folded
    mapped = "".join(stringprep.map_table_b2(c) for c in text if not stringprep.in_table_b1(c))
    return _checked(ucd_3_2_0.normalize("NFKC", mapped), node=True)


def resourceprep(text: str) -> str:
    """The prepared resource (not case-folded), or ValueError."""
    if text.isascii():
        bad = next((c for c in text if c < " " or c == "\x7f"), None)
        if bad is not None:
            raise ValueError(f"character {bad!r} is not allowed in a resource")
        return text
    mapped = "".join(c for c in text if not stringprep.in_table_b1(c))
    return _checked(ucd_3_2_0.normalize("NFKC", mapped), node=False)


def _checked(text: str, *, node: bool) -> str:
    for char in text:
        if any(table(char) for table in _COMMON_PROHIBITED) \
                or (node and (char in _NODE_EXTRA or stringprep.in_table_c11(char))):
            raise ValueError(f"character U+{ord(char):04X} is not allowed")
    _check_bidi(text)
    return text


def _check_bidi(text: str) -> None:
    """RFC 3454 §6: a string with right-to-left characters is RTL throughout its ends."""
    rtl = [stringprep.in_table_d1(c) for c in text]
    if not any(rtl):
        return
    if any(stringprep.in_table_d2(c) for c in text) or not (rtl[0] and rtl[-1]):
        raise ValueError("mixes right-to-left and left-to-right text")
