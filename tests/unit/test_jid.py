from __future__ import annotations

import pytest

from component.jid import Jid, JidError


@pytest.mark.parametrize(("text", "parts"), [
    ("alice@QTalk.Test.org", ("alice", "qtalk.test.org", "")),
    ("alice@qtalk.test.org/pc 1", ("alice", "qtalk.test.org", "pc 1")),
    ("qtalk.test.org", ("", "qtalk.test.org", "")),
    ("张三@qtalk.test.org", ("张三", "qtalk.test.org", "")),
])
def test_parse(text: str, parts: tuple[str, str, str]) -> None:
    jid = Jid.parse(text)
    assert (jid.local, jid.domain, jid.resource) == parts


@pytest.mark.parametrize("text", [
    "", "@qtalk.test.org", "a b@qtalk.test.org", "a@", "a@-bad.org", "a@x..org",
    "a@qtalk.test.org/", "a\x00@x.org", "a'b@x.org", "a@x_y.org", "a@" + "x" * 300,
    "a<b@x.org", "x" * 1100 + "@x.org",
])
def test_invalid(text: str) -> None:
    with pytest.raises(JidError):
        Jid.parse(text)


def test_user_and_bare() -> None:
    jid = Jid.user("bob", "qtalk.test.org")
    assert str(jid) == "bob@qtalk.test.org"
    assert Jid.parse("bob@qtalk.test.org/r").bare == jid
    with pytest.raises(JidError):
        Jid.user("bob@evil.org", "qtalk.test.org")


def test_localpart_is_prepared_as_the_server_will() -> None:
    assert Jid.parse("Alice@QTalk.test.org").local == "alice"
    assert Jid.parse("ＡＢＣ@qtalk.test.org").local == "abc"  # NFKC, then case folding
    assert Jid.parse("bob@qtalk.test.org/Phone").resource == "Phone"  # resources keep case


@pytest.mark.parametrize("text", [
    "y\U000130e8@qtalk.test.org",      # unassigned in Unicode 3.2: ejabberd says bad-request
    "y\U000f6ecf@qtalk.test.org",      # private use
    "a\u200eb@qtalk.test.org",          # a bidi mark
    "\u05d0a@qtalk.test.org",           # right-to-left mixed with left-to-right
    "a\u3000b@qtalk.test.org",          # non-ASCII space
    "bob@qtalk.test.org/a\u0085b",      # a C1 control in a resource
])
def test_stringprep_refusals(text: str) -> None:
    with pytest.raises(JidError):
        Jid.parse(text)


def test_the_factories_prepare_like_parse() -> None:
    assert Jid.of_name("Alice", "Example.ORG") == Jid.parse("alice@example.org")
    assert Jid.of_name("Bob@example.org", "other.org") == Jid.parse("bob@example.org")
    assert Jid.parse("room@muc.example.org").with_resource("Nick") \
        == Jid.parse("room@muc.example.org/Nick")
    with pytest.raises(JidError):
        Jid.parse("room@muc.example.org").with_resource("bad\x01")


def test_equality_and_hash_are_the_prepared_address() -> None:
    """Equal JIDs (however written) are one key; a JID equals no string, not even its text."""
    written = [Jid.parse("Alice@QTalk.test.org/pc"), Jid.parse("alice@qtalk.test.org/pc"),
               Jid("alice", "qtalk.test.org", "pc")]
    assert len(set(written)) == 1
    assert {written[0]: 1}[written[2]] == 1
    assert written[0] != Jid.parse("alice@qtalk.test.org")
    assert written[0].bare == Jid.parse("alice@qtalk.test.org")
    assert written[0] != "alice@qtalk.test.org/pc"
    assert Jid("", "qtalk.test.org") != Jid("qtalk.test.org", "")
    assert repr(written[0]) == "Jid('alice@qtalk.test.org/pc')"


@pytest.mark.parametrize("value", [None, 5, b"alice@qtalk.test.org"])
def test_what_is_not_a_string_is_refused_as_an_address(value: object) -> None:
    with pytest.raises(JidError):
        Jid.parse(value)
