"""bench.floor's one stanza: ejabberd's send_message JSON in, an escaped chat message out."""

from __future__ import annotations

import re

import pytest

from bench.floor import BadRequest, chat_stanza


def test_every_attribute_and_text_is_escaped() -> None:
    stanza = chat_stanza(b'{"type":"chat","from":"a\'b@x","to":"c&d@x","subject":"",'
                         b'"body":"1 < 2 & <b>"}')
    assert re.fullmatch(
        rb"<message type=\"chat\" id='floor\d+' from=\"a'b@x\" to=\"c&amp;d@x\">"
        rb"<body>1 &lt; 2 &amp; &lt;b&gt;</body></message>", stanza)


def test_a_subject_becomes_its_element() -> None:
    stanza = chat_stanza(b'{"type":"chat","from":"a@x","to":"b@x","subject":"s","body":"t"}')
    assert b"<subject>s</subject><body>t</body>" in stanza


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"from":"a@x","to":"b@x"}',
                                  b'{"from":"a@x","to":"b@x","body":5}'])
def test_what_is_not_ejabberds_request_is_refused(body: bytes) -> None:
    with pytest.raises(BadRequest):
        chat_stanza(body)
