"""Outside XML never makes libxml2 open a file, a device or the network (xmpp/untrusted.py).

A regression here hangs the parser in C (`file:///dev/zero` never ends), where no asyncio or
pytest timeout can reach it: the hanging cases run in a child process with a deadline.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from lxml import etree

from component.errors import BadStanza
from component.xmpp import fragment
from component.xmpp.parser import StreamParser, StreamViolation
from component.xmpp.untrusted import DECLARATION_REFUSED, Refused, root_start, without_resolution

LIMIT = 64 << 10
BODY = "<message><body>z</body></message>"


def declarations(url: str) -> dict[str, str]:
    """Every form a DOCTYPE can take to make a parser read `url`."""
    return {
        "parameter entity": f"<!DOCTYPE m [<!ENTITY % p SYSTEM '{url}'> %p;]>{BODY}",
        "external subset": f"<!DOCTYPE m SYSTEM '{url}'>{BODY}",
        "public external subset": f"<!DOCTYPE m PUBLIC 'x' '{url}'>{BODY}",
        "general entity": f"<!DOCTYPE m [<!ENTITY e SYSTEM '{url}'>]><message>&e;</message>",
        "lower case": f"<!doctype m [<!ENTITY % p SYSTEM '{url}'> %p;]>{BODY}",
        "after whitespace": f" \r\n\t<!DOCTYPE m [<!ENTITY % p SYSTEM '{url}'> %p;]>{BODY}",
        "after a BOM": f"\ufeff<!DOCTYPE m [<!ENTITY % p SYSTEM '{url}'> %p;]>{BODY}",
        "after the XML declaration": f"<?xml version='1.0'?><!DOCTYPE m SYSTEM '{url}'>{BODY}",
        "declared UTF-16": f"<?xml version='1.0' encoding='UTF-16'?><!DOCTYPE m SYSTEM "
                           f"'{url}'>{BODY}",
        "after an instruction that looks like CDATA":
            f"<?x <![CDATA[ ?><!DOCTYPE m SYSTEM '{url}'><message><body>]]></body></message>",
        "after a comment": f"<!-- x --><!DOCTYPE m SYSTEM '{url}'>{BODY}",
    }


@pytest.mark.parametrize("url", ["file:///etc/passwd", "file:///nonexistent-qtalk",
                                 "file:///etc", "http://127.0.0.1:9/evil.dtd"])
@pytest.mark.parametrize("form", list(declarations("")))
def test_every_declaration_gets_one_answer_whatever_it_names(url: str, form: str) -> None:
    with pytest.raises(BadStanza) as refused:
        fragment.parse_message(declarations(url)[form], LIMIT)
    assert refused.value.message == f"message: {DECLARATION_REFUSED}"


def test_dev_zero_is_never_read() -> None:
    """Each form, in a child process that must finish within its deadline."""
    program = (
        "from component.errors import BadStanza\n"
        "from component.xmpp import fragment\n"
        "from tests.unit.test_untrusted import declarations\n"
        "for xml in declarations('file:///dev/zero').values():\n"
        "    try:\n"
        "        fragment.parse_message(xml, 1 << 16)\n"
        "    except BadStanza:\n"
        "        continue\n"
        "    raise SystemExit('accepted: ' + xml)\n")
    done = subprocess.run([sys.executable, "-c", program], timeout=20, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("xml", [
    "<message><body><![CDATA[<!DOCTYPE m SYSTEM 'file:///dev/zero'>]]></body></message>",
    "<message><body>&lt;!DOCTYPE m&gt;</body></message>",
    "\ufeff<?xml version='1.0' encoding='UTF-8'?>\n<message><body>z</body></message>",
])
def test_the_text_of_a_declaration_inside_the_element_is_fine(xml: str) -> None:
    body = fragment.body_of(fragment.parse_message(xml, LIMIT).root)
    assert body is not None
    assert body.text is not None


def test_xinclude_is_never_processed() -> None:
    xml = ("<message xmlns:xi='http://www.w3.org/2001/XInclude'><body>z</body>"
           "<xi:include href='file:///etc/passwd' parse='text'/></message>")
    raw = etree.tostring(fragment.parse_message(xml, LIMIT).root)
    assert b"root:" not in raw
    assert b"xi:include" in raw


def test_the_resolver_refuses_what_a_parser_would_load() -> None:
    """The second line: even a parser told to load DTDs reads nothing."""
    parser = without_resolution(etree.XMLParser(load_dtd=True, no_network=True))
    with pytest.raises(Refused):
        etree.fromstring(b"<!DOCTYPE m SYSTEM 'file:///etc/passwd'><m/>", parser)


@pytest.mark.parametrize(("data", "found"), [
    (b"<m/>", 0), (b"  <m/>", 2), (b"\xef\xbb\xbf<m/>", 3), (b"<?xml version='1.0'?><m/>", 21),
    (b"", None), (b"\xef\xbb", None), (b" <", None), (b"<?xml version=", None)])
def test_root_start(data: bytes, found: int | None) -> None:
    assert root_start(data) == found


@pytest.mark.parametrize("data", [b"x<m/>", b"<!DOCTYPE", b"<!", b"<![CDATA[x]]><m/>",
                                  b"\xff\xfe<\x00m\x00/\x00>\x00"])
def test_root_start_refuses(data: bytes) -> None:
    with pytest.raises(Refused):
        root_start(data)


STREAM = (b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'"
          b" xmlns='jabber:component:accept' id='abc' from='api.qtalk.test.org'>")


def test_the_stream_refuses_a_doctype_split_anywhere() -> None:
    data = b"<?xml version='1.0'?><!DOCTYPE s [<!ENTITY % p SYSTEM 'file:///dev/zero'> %p;]>"
    parser = StreamParser(1024)
    bang = data.index(b"!")
    for at in range(bang):
        assert parser.feed(data[at:at + 1]) == []
    with pytest.raises(StreamViolation, match="DOCTYPE"):  # before any byte reached libxml2
        parser.feed(data[bang:bang + 1])


def test_the_stream_header_split_anywhere_is_parsed() -> None:
    data = b"\xef\xbb\xbf<?xml version='1.0'?>\n" + STREAM
    parser = StreamParser(1024)
    events = [event for at in range(len(data)) for event in parser.feed(data[at:at + 1])]
    assert len(events) == 1


def test_an_endless_prolog_is_refused() -> None:
    parser = StreamParser(1024)
    with pytest.raises(StreamViolation, match="larger than"):
        parser.feed(b"<?x " + b"y" * 2000)
