"""Numbers written as text by someone else (a JSON string, a query, a form field): ASCII only.

`str.isdigit()` and `float()` take any Unicode digit ("²", "①", "١٢"), and `int()` refuses
some of what `isdigit()` takes: a check with one and a conversion with the other answered 500.
Here one pattern decides, and a match always converts.
"""

from __future__ import annotations

import re
from typing import Final

# 18 digits: under Python's 4300-digit int() limit and any count this API takes.
_INTEGER: Final = re.compile(r"[0-9]{1,18}")
_DECIMAL: Final = re.compile(
    r"(?:[0-9]{1,18}(?:\.[0-9]{0,18})?|\.[0-9]{1,18})(?:[eE][+-]?[0-9]{1,3})?")


def ascii_int(text: str) -> int | None:
    """The number `text` writes in ASCII digits, else None (signs, spaces, "_" included)."""
    return int(text) if _INTEGER.fullmatch(text) else None


def ascii_decimal(text: str) -> float | None:
    """The number `text` writes in ASCII (digits, one point, an exponent), else None."""
    return float(text) if _DECIMAL.fullmatch(text) else None
