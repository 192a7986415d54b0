"""Typed request parsing at the edge: JSON into values, with field-named errors.

A field has the JSON type the API description gives it (openapi_schemas.py), or the request
is refused naming it: a number is not a string, and `null` is not an absent field. The
original API crashed on such values or dropped what they went into, so no client of it
relied on them (original-behaviour.md §2).
"""

from __future__ import annotations

from typing import Any

import orjson

from component.errors import BadField, BadJson, TooLarge

MAX_JSON_DEPTH = 32


def decode_json(raw: bytes) -> Any:
    if not raw.strip():
        raise BadJson("empty body: a JSON document was expected")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadJson(f"body is not valid JSON: {exc}") from None
    # Every level opens with a bracket: with no more brackets than levels allowed (in strings
    # too), the document cannot be too deep, and the walk is skipped.
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH:
        _check_depth(value)
    return value


def _check_depth(value: Any) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise BadJson(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        children = node.values() if isinstance(node, dict) else node \
            if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children)


def as_object(value: Any, what: str = "body") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadJson(f"{what}: a JSON object was expected")
    return value


def as_items(value: Any, max_items: int, what: str = "body") -> list[Any]:
    """One object or an array of them (send_thirdmessage accepted both)."""
    items = value if isinstance(value, list) else [value]
    if len(items) > max_items:
        raise TooLarge(f"{what}: {len(items)} items, the limit is {max_items}")
    return items


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for errors."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    return "an array" if isinstance(value, list) else "a string"


def req_str(obj: dict[str, Any], key: str, *, max_chars: int | None = None,
            allow_empty: bool = False) -> str:
    if key not in obj:
        raise BadField(key, "missing")
    return _str(obj[key], key, max_chars, allow_empty)


def opt_str(obj: dict[str, Any], key: str, default: str | None = None, *,
            max_chars: int | None = None) -> str | None:
    if key not in obj:
        return default
    return _str(obj[key], key, max_chars, allow_empty=True)


def _str(value: Any, key: str, max_chars: int | None, allow_empty: bool) -> str:
    if not isinstance(value, str):
        raise BadField(key, f"expected a string, got {json_type(value)}")
    text = value
    if not text and not allow_empty:
        raise BadField(key, "must not be empty")
    if max_chars is not None and len(text) > max_chars:
        raise TooLarge(f"{key}: {len(text)} characters, the limit is {max_chars}")
    return text


def str_or_list(obj: dict[str, Any], key: str, max_items: int) -> tuple[str, ...]:
    value = obj.get(key)
    if isinstance(value, str) and value:
        return (value,)
    if not isinstance(value, list) or not value:
        raise BadField(key, "expected a JID or a non-empty array of JIDs")
    if len(value) > max_items:
        raise TooLarge(f"{key}: {len(value)} items, the limit is {max_items}")
    if not all(isinstance(item, str) for item in value):
        raise BadField(key, "every element must be a string")
    return tuple(value)
