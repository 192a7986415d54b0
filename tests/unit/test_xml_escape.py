"""The escaper's shortcut for values that need no work gives what the full path gives."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from component.xmpp import xml
from component.xmpp.xml import ForbiddenCharacter


def _slow(value: str, table: dict[int, str]) -> str | None:
    try:
        return xml.check_chars(value, "v").translate(table)
    except ForbiddenCharacter:
        return None


def _fast(escape: Callable[[str], str], value: str) -> str | None:
    try:
        return escape(value)
    except ForbiddenCharacter:
        return None


@given(st.text(alphabet=st.characters(exclude_categories=())))  # surrogates included
def test_attr_and_text_agree_with_the_full_path(value: str) -> None:
    assert _fast(xml.attr, value) == _slow(value, xml._ATTR)
    assert _fast(xml.text, value) == _slow(value, xml._TEXT)


@pytest.mark.parametrize("value", ["a&b", "<", ">", "'", '"', "\t", "\n", "\r", "\ud800",
                                   "\x01", "\ufffe", "ok@jid.example/res"])
def test_every_special_character(value: str) -> None:
    assert _fast(xml.attr, value) == _slow(value, xml._ATTR)
    assert _fast(xml.text, value) == _slow(value, xml._TEXT)


@pytest.mark.parametrize("code", range(128))
def test_every_ascii_character_alone_and_in_a_text(code: int) -> None:
    """The shortcut's tables (one translate pass over ASCII) against the full path."""
    for value in (chr(code), f"plain {chr(code)} text"):
        assert _fast(xml.attr, value) == _slow(value, xml._ATTR)
        assert _fast(xml.text, value) == _slow(value, xml._TEXT)
        assert xml.plain_attributes(["id", value]) == (_slow(value, xml._ATTR) == value)
