"""Bodies into Structs: msgspec's errors become the API's, naming fields by their API names."""

from __future__ import annotations

import msgspec
import pytest

from component.errors import ApiError, BadField, BadJson, ErrCode, TooLarge
from component.http import body as fields
from component.http.shapes import (
    AddHost,
    ClearStaff,
    MucMembers,
    Recipient,
    SendMessage,
    SendNotify,
)
from tests.unit.http_apps import make_config

LIMITS = make_config(limits={"max_items": 2, "max_body_chars": 5}).limits


def refused(raw: bytes, shape: type) -> ApiError:
    with pytest.raises(ApiError) as caught:
        fields.decode(raw, shape, LIMITS)
    return caught.value


@pytest.mark.parametrize(("raw", "kind", "message"), [
    (b'{"To":[1],"Body":""}', BadField, "From: missing"),
    (b'{"From":5,"To":[1],"Body":""}', BadField, "From: expected a string, got a number"),
    (b'{"From":"","To":[1],"Body":""}', BadField, "From: must not be empty"),
    (b'{"From":"a","To":[1],"Body":null}', BadField, "Body: expected a string, got null"),
    (b'{"From":"a","To":{},"Body":""}', BadField, "To: expected an array, got an object"),
    (b'{"From":"a","To":[],"Body":""}', BadField, "To: expected a non-empty array"),
    (b"[1]", BadJson, "body: a JSON object was expected"),
    (b" ", BadJson, "empty body: a JSON document was expected"),
    (b'{"From":"a","To":[1,2,3],"Body":""}', TooLarge, "To: 3 recipients, the limit is 2"),
    (b'{"From":"a","To":[1],"Body":"123456"}', TooLarge, "Body: 6 characters, the limit is 5"),
])
def test_errors_name_the_field(raw: bytes, kind: type, message: str) -> None:
    error = refused(raw, SendMessage)
    assert (type(error), error.message) == (kind, message)


def test_a_path_inside_a_field_is_named_after_it() -> None:
    error = refused(b'{"from":"a","to":["b",5],"category":"c"}', SendNotify)
    assert error.message == "to: expected a string, got a number (at to[1])"
    assert error.errcode == ErrCode.BAD_FIELD


def test_items_are_decoded_one_by_one() -> None:
    value = fields.decode(b'{"From":"a","To":[{"User":"b"},5,{"User":""}],"Body":""}',
                          SendMessage, LIMITS.__class__(max_items=5))
    first, second, third = fields.items(value, "to")
    assert first == Recipient("b")
    assert isinstance(second, BadJson)
    assert isinstance(third, BadField)
    assert third.message == "User: must not be empty"


@pytest.mark.parametrize(("raw", "shape", "attr"), [
    (b'{"From":"a","To":[{"User":"b"},{"User":"c","x":[1]}],"Body":""}', SendMessage, "to"),
    (b'{"From":"a","To":[{"User":"b"},{"User":""}],"Body":"","Host":"h"}', SendMessage, "to"),
    (b'{"From":"a","To":[{"User":"b"},[]],"Body":""}', SendMessage, "to"),
    (b'{"To":[{"User":"b"}],"From":"a","Body":"","To":[{"User":"c"}]}', SendMessage, "to"),
    (b'{"muc_id":"t","muc_member":["a","b"]}', MucMembers, "muc_member"),
    (b'{"muc_id":"t","muc_member":["a",""]}', MucMembers, "muc_member"),
    (b'{"host":"h","users":["a",{"b":1}]}', ClearStaff, "users"),
])
def test_items_decoded_at_once_are_those_decoded_one_by_one(
        raw: bytes, shape: type[msgspec.Struct], attr: str) -> None:
    declared = msgspec.json.decode(raw, type=shape)
    one_by_one = fields.decode_each(getattr(declared, attr), fields.shape_info(shape).each[attr])
    value = fields.decode(raw, shape, LIMITS)
    assert isinstance(value, shape)
    got = fields.items(value, attr)
    assert [(type(item), getattr(item, "message", item)) for item in got] == \
        [(type(item), getattr(item, "message", item)) for item in one_by_one]
    assert {name: getattr(value, name) for name in value.__struct_fields__ if name != attr} \
        == {name: getattr(declared, name) for name in declared.__struct_fields__ if name != attr}


def test_a_bad_item_does_not_hide_the_error_of_another_field() -> None:
    error = refused(b'{"To":[{"User":5}],"Body":""}', SendMessage)
    assert error.message == "From: missing"
    assert refused(b'{"From":"a","To":[{"User":"b"}],"Body":5}', SendMessage).message == \
        "Body: expected a string, got a number"
    over = refused(b'{"muc_id":"t","muc_member":["a","b","c"]}', MucMembers)
    assert (type(over), over.message) == (TooLarge, "muc_member: 3 users, the limit is 2")


def test_a_named_limit_follows_the_settings_given() -> None:
    raw = b'{"muc_id":"t","muc_member":["a","b","c"]}'
    assert len(fields.decode(raw, MucMembers, LIMITS.__class__(max_items=3)).muc_member) == 3
    assert isinstance(refused(raw, MucMembers), TooLarge)


@pytest.mark.parametrize("levels", [31, 32, 33])
@pytest.mark.parametrize("shape", [
    (b"[", b"]"), (b'{"a":', b"}"), (b'[1,{"b":', b'},"x"]'), (b'{"s":"]]}}","t":[', b"]}")])
def test_the_quick_depth_check_agrees_with_the_walk(levels: int, shape: tuple[bytes, ...]
                                                    ) -> None:
    opening, closing = shape
    for leaf in (b"1", b'"[{"', b"[]", b"{}"):
        raw = opening * levels + leaf + closing * levels
        try:
            fields.decode_json(raw)
            refusal = ""
        except BadJson as exc:
            refusal = exc.message
        assert fields._maybe_too_deep(raw) == ("deeper than" in refusal), raw


def test_decode_caps_the_depth_before_the_shape() -> None:
    """The brackets are counted before the shape's decoder runs: one level more than the cap
    is refused as too deep, not as a bad recipient; at the cap, the recipient is refused."""
    def nested(levels: int) -> bytes:
        return b'{"From":"a","Body":"","To":' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"

    at_cap = fields.decode(nested(fields.MAX_JSON_DEPTH), SendMessage, LIMITS)
    assert [str(entry) for entry in fields.items(at_cap, "to")] == \
        ["item: a JSON object was expected"]
    too_deep = refused(nested(fields.MAX_JSON_DEPTH + 1), SendMessage)
    assert (type(too_deep), too_deep.message) == (BadJson, "JSON nested deeper than 32 levels")
    many_in_a_string = b'{"From":"a","To":[{"User":"b"}],"Body":"' + b"[{" * 40 + b'"}'
    assert fields.decode(many_in_a_string, SendMessage, LIMITS.__class__()).body == "[{" * 40


def test_the_limits_of_a_union_s_struct_apply() -> None:
    raw = b'{"host":"' + b"a" * 254 + b'"}'
    with pytest.raises(TooLarge) as caught:
        fields.decode_as(raw, AddHost | list[msgspec.Raw])
    assert caught.value.message == "host: 254 characters, the limit is 253"
    assert fields.decode_as(raw[:-3] + b'"}', AddHost | list[msgspec.Raw]).host == "a" * 253
