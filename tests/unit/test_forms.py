"""XEP-0004 data forms: golden XML for the builders, field-named errors from the parser."""

from __future__ import annotations

import pytest
from lxml import etree

from component.errors import BadField, BadRequest
from component.jid import Jid
from component.xmpp.forms import (
    Field,
    Form,
    Option,
    build_form,
    build_submission,
    field_values,
    parse_submission,
)


def test_form_golden() -> None:
    form = Form("form", "Create a room", "Line one\nLine two", (
        Field("room", "text-single", "Room", required=True, desc="the room's name"),
        Field("members", "jid-multi", "Members", ("a@x.org", "b@x.org")),
        Field("kind", "list-single", "Kind", ("public",),
              options=(Option("public", "Public"), Option("private"))),
        Field("", "fixed", values=("note",)),
    ))
    assert etree.tostring(build_form(form)) == (
        b'<x xmlns="jabber:x:data" type="form"><title>Create a room</title>'
        b"<instructions>Line one</instructions><instructions>Line two</instructions>"
        b'<field var="room" type="text-single" label="Room"><desc>the room\'s name</desc>'
        b"<required/></field>"
        b'<field var="members" type="jid-multi" label="Members"><value>a@x.org</value>'
        b"<value>b@x.org</value></field>"
        b'<field var="kind" type="list-single" label="Kind"><value>public</value>'
        b'<option label="Public"><value>public</value></option>'
        b"<option><value>private</value></option></field>"
        b'<field type="fixed"><value>note</value></field></x>')


def test_values_are_escaped_and_forbidden_characters_refused() -> None:
    built = etree.tostring(build_form(Form("result", fields=(
        Field("k", values=("<a & 'b'>",)),))))
    assert b"&lt;a &amp; 'b'&gt;" in built
    with pytest.raises(ValueError, match="XML compatible"):
        build_form(Form(fields=(Field("k", values=("\x00",)),)))


def submission(fields: str, form_type: str = "submit") -> etree._Element:
    return etree.fromstring(f"<x xmlns='jabber:x:data' type='{form_type}'>{fields}</x>")


def test_submission_accessors() -> None:
    form = parse_submission(submission(
        "<field var='room'><value> dev </value></field>"
        "<field var='members'><value>a@x.org, b@x.org\nc@x.org</value>"
        "<value>a@x.org</value></field>"
        "<field var='flag'><value>true</value></field>"
        "<field var='lines'><value>one\n\ntwo</value></field>"
        "<field><value>no var: ignored</value></field>"))
    assert form.text("room") == "dev"
    assert form.jids("members") == (Jid.parse("a@x.org"), Jid.parse("b@x.org"),
                                    Jid.parse("c@x.org"))
    assert form.many("lines") == ("one", "two")
    assert form.boolean("flag") is True
    assert form.boolean("absent", default=True) is True
    assert form.text("absent", required=False, default="d") == "d"
    assert form.jid("absent", required=False) is None


@pytest.mark.parametrize(("fields", "call", "field"), [
    ("", lambda f: f.text("room"), "room"),
    ("<field var='owner'><value>not a jid@</value></field>", lambda f: f.jid("owner"), "owner"),
    ("<field var='flag'><value>maybe</value></field>", lambda f: f.boolean("flag"), "flag"),
    ("", lambda f: f.jids("members", required=True), "members"),
])
def test_submission_errors_name_the_field(fields: str, call: object, field: str) -> None:
    form = parse_submission(submission(fields))
    with pytest.raises(BadField) as info:
        call(form)  # type: ignore[operator]
    assert info.value.field == field


def test_only_submit_forms_are_read() -> None:
    with pytest.raises(BadRequest):
        parse_submission(submission("", "form"))
    with pytest.raises(BadRequest, match="more than"):
        parse_submission(submission("<field var='a'/>" * 201))


def test_a_submission_built_reads_back_by_var() -> None:
    x = build_submission({"FORM_TYPE": "urn:example", "many": ["a", "b"], "empty": ""})
    assert etree.tostring(x) == (
        b'<x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE"><value>urn:example'
        b'</value></field><field var="many"><value>a</value><value>b</value></field>'
        b'<field var="empty"><value></value></field></x>')
    assert field_values(x) == {"FORM_TYPE": ("urn:example",), "many": ("a", "b"),
                               "empty": ("",)}
