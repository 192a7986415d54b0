"""Numbers from outside: ASCII digits only, and a match always converts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from component.numbers import ascii_decimal, ascii_int


@pytest.mark.parametrize(("text", "number"), [("0", 0), ("42", 42), ("007", 7)])
def test_ascii_int(text: str, number: int) -> None:
    assert ascii_int(text) == number


@pytest.mark.parametrize("text", ["", "²", "①", "١٢", "４２", "-1", "+1", " 1", "1_0", "1.0",
                                  "9" * 19, "9" * 5000])
def test_anything_else_is_not_an_int(text: str) -> None:
    assert ascii_int(text) is None


@pytest.mark.parametrize(("text", "number"), [("0", 0.0), ("0.5", 0.5), ("5.", 5.0),
                                              (".5", 0.5), ("1e1", 10.0)])
def test_ascii_decimal(text: str, number: float) -> None:
    assert ascii_decimal(text) == number


@pytest.mark.parametrize("text", ["", ".", "١", "²", "nan", "inf", "1_0", " 1", "-1", "0x1",
                                  "1e", "1.2.3"])
def test_anything_else_is_not_a_decimal(text: str) -> None:
    assert ascii_decimal(text) is None


@given(st.text(max_size=30))
def test_no_text_raises(text: str) -> None:
    ascii_int(text)
    ascii_decimal(text)
