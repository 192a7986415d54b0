"""Hypothesis strategies for hostile request bodies, shared by the unit and real-server fuzzers.

Purely random JSON rarely gets past the first field check, so most bodies are objects (or
arrays of them) with the field names the endpoints read, filled with hostile values: XML
attacks, forbidden characters, huge or empty strings, JIDs of served and foreign domains,
wrong types. The rest are random JSON and raw bytes that are not JSON at all.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import strategies as st

# Every field name the endpoints read (original-behaviour.md §2); unknown ones are harmless.
FIELD_NAMES = (
    "From", "To", "Body", "Type", "Msg_Type", "Host", "Extend_Info", "User",
    "from", "to", "message", "category", "data", "host", "user", "users", "key", "name",
    "muc_name", "muc_id", "muc_desc", "muc_owner", "muc_owner_host", "muc_true_owner",
    "muc_domain", "muc_members", "muc_member", "member", "members", "nick", "pic", "title",
    "desc", "version", "type", "owner", "domain", "jid", "id", "users_list", "hosts",
)

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + n)} "{("&" + chr(97 + n) + ";") * 10}">' for n in range(8))
    + "]><message><body>&i;</body></message>")
HOSTILE_TEXT = (
    BILLION_LAUGHS,
    "<!DOCTYPE m [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><message><body>&x;</body></message>",
    "<!DOCTYPE m SYSTEM 'http://127.0.0.1:9/evil.dtd'><message/>",
    "<!DOCTYPE m [<!ENTITY % p SYSTEM 'file:///etc/passwd'> %p;]><message/>",
    "<message><!-- c --><?pi x?><body>x</body></message>",
    "<iq type='set' id='1'><query xmlns='jabber:iq:roster'/></iq>",
    "<presence type='subscribed'/>", "<message/><message/>", "</stream:stream>",
    "<message><body>a&#1;b</body></message>", "<message><body>\ufffe</body></message>",
    "<message type='chat'><body>ok</body></message>", "<a>" * 300 + "</a>" * 300,
    "\x00", "\x07bell", "]]>", "&lt;&amp;", "</body></message><iq type='set'/>",
    "\u202eevil", "😀" * 50, "", " ", "x" * 70_000, "' OR 1=1 --", "%s%n%x",
    "../../etc/passwd", "a@b@c", "@qtalk.test.org", "user@", "user@evil.example",
    "room@conference.qtalk.test.org", "user@qtalk.test.org/res", "user@[::1]",
)


def jids(hosts: tuple[str, ...]) -> st.SearchStrategy[str]:
    local = st.sampled_from(["alice", "bob", "x", "Ünïcode", "a b", "a'b", "a\"b"])
    domain = st.sampled_from([*hosts, f"conference.{hosts[0]}", "evil.example", ""])
    return st.builds(lambda u, d, r: f"{u}@{d}{r}", local, domain,
                     st.sampled_from(["", "/res", "/"]))


def scalars(hosts: tuple[str, ...]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(HOSTILE_TEXT), jids(hosts), st.text(max_size=50),
        st.integers(min_value=-(2**63), max_value=2**63 - 1), st.booleans(), st.none(),
        st.floats(allow_nan=False, allow_infinity=False))


def values(hosts: tuple[str, ...]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars(hosts),
        lambda inner: st.one_of(st.lists(inner, max_size=6),
                                st.dictionaries(st.sampled_from(FIELD_NAMES), inner,
                                                max_size=6)),
        max_leaves=12)


def shaped_objects(hosts: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(FIELD_NAMES), values(hosts), max_size=8)


RAW_BODIES = (
    b"", b"{", b"null", b"[]", b"{}", b"[" * 5000 + b"]" * 5000, b'{"a":' * 100 + b"1" + b"}" * 100,
    b'{"From": "\\ud800", "message": "\\udfff"}', b"1e999999", b'"\xff\xfe"', b"\xef\xbb\xbf{}",
    b'{"From": "a", "From": "b"}', b"\x00" * 10, b'{"To": [' + b'{"User": "u"},' * 999 + b"{}]}",
)


def bodies(hosts: tuple[str, ...]) -> st.SearchStrategy[bytes]:
    """Request bodies: mostly API-shaped JSON, then random JSON, raw oddities, random bytes."""
    shaped = st.one_of(shaped_objects(hosts), st.lists(shaped_objects(hosts), max_size=4))
    return st.one_of(
        shaped.map(orjson.dumps), values(hosts).map(orjson.dumps),
        st.sampled_from(RAW_BODIES), st.binary(max_size=200))
