"""The request bodies' JSON Schemas, generated from their Structs (shapes.py).

msgspec writes each Struct's schema (names, types, required fields, defaults, descriptions);
what it cannot know is added here from the same declarations: the limits (from this config,
so the document shows what the running daemon enforces), and the items of an array decoded
one by one (held as `msgspec.Raw`).
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import inspect as mi

from component.config import LimitsConfig
from component.http import shapes
from component.http.body import extras, shape_info

Schema = dict[str, Any]
REF = "#/components/schemas/{name}"
ONE_OR_MANY = "ThirdMessages"  # the body of send_thirdmessage and send_xml


def request_schemas(limits: LimitsConfig) -> tuple[dict[str, Schema], dict[str, str]]:
    """components/schemas of every body, and route path (after /qtalk/) → its schema's name."""
    structs = list(dict.fromkeys(shapes.BODIES.values()))
    items = [shape for struct in structs for shape in shape_info(struct).each.values()
             if _is_struct(shape)]
    _, components = msgspec.json.schema_components([*structs, *items], ref_template=REF)
    for struct in {*structs, *items}:
        _complete(components[struct.__name__], struct, limits, components)
    for item in set(items) - set(structs):  # inlined where used: a field's schema stands
        del components[item.__name__]         # alone (tests/integration/test_field_types.py)
    third = components[shapes.ThirdItem.__name__]
    components[ONE_OR_MANY] = {"oneOf": [third, {
        "type": "array", "maxItems": limits.max_items, "items": third}]}
    names = {path: ONE_OR_MANY if path in shapes.ONE_OR_MANY else struct.__name__
             for path, struct in shapes.BODIES.items()}
    return components, names


def _complete(schema: Schema, struct: type[msgspec.Struct], limits: LimitsConfig,
              components: dict[str, Schema]) -> None:
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    for field in info.fields:
        target = schema["properties"][field.encode_name]
        for extra in extras(field.type):
            if "max_chars" in extra:
                _set(target, "string", "maxLength", _most(extra["max_chars"], limits))
            if "max_items" in extra:
                _set(target, "array", "maxItems", _most(extra["max_items"], limits))
            if "each" in extra:
                _set(target, "array", "items", _items_schema(extra["each"], components))


def _set(schema: Schema, json_type: str, keyword: str, value: Any) -> None:
    """On the schema, or on the member of its `anyOf` of that type."""
    for member in [schema, *schema.get("anyOf", ())]:
        if member.get("type") == json_type:
            member[keyword] = value


def _most(most: int | str, limits: LimitsConfig) -> int:
    return most if isinstance(most, int) else int(getattr(limits, most))


def _items_schema(shape: Any, components: dict[str, Schema]) -> Schema:
    if _is_struct(shape):
        return components[shape.__name__]
    return msgspec.json.schema(shape)


def _is_struct(shape: Any) -> bool:
    return isinstance(shape, type) and issubclass(shape, msgspec.Struct)


def query_fields(name: str, components: dict[str, Schema]) -> dict[str, tuple[Schema, bool]]:
    """A body's fields as query parameters (send_notice_vcard's GET): schema, required."""
    schema = components[name]
    return {key: (value, key in schema.get("required", ()))
            for key, value in schema["properties"].items()}
