"""Request bodies into the Structs of shapes.py, with the API's errors.

Decoding is msgspec's, in C, with one cached decoder per shape. A field has the JSON type its
Struct gives it, or the request is refused naming it by its API name (400, errcode 1002): a
number is not a string, and `null` is not an absent field. The original API crashed on such
values or dropped what they went into, so no client of it relied on them
(original-behaviour.md §2). A body that is not JSON, or not an object, is errcode 1001.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import GenericAlias
from typing import Annotated, Any, Final, NamedTuple, TypeVar, get_args, get_type_hints

import msgspec
import orjson
from msgspec import inspect as mi

from component.config import LimitsConfig
from component.errors import ApiError, BadField, BadJson, TooLarge

MAX_JSON_DEPTH: Final = 32
T = TypeVar("T")


def decode(raw: bytes, shape: type[T], limits: LimitsConfig | None = None,
           what: str = "body") -> T:
    """`raw` as `shape`, within its limits (413 over them; `limits` for a shape whose limits
    name settings); `what` names the document in errors about its whole."""
    # Every level opens with a bracket: with no more brackets than levels allowed (in strings
    # too), a body cannot be too deep and is not walked (most bodies). They are counted as the
    # bytes that deleting them removes: `bytes.count` parses its arguments into a tuple first,
    # and two calls of it cost 1.3k instructions more than two of `replace`.
    if len(raw) - len(raw.replace(b"[", b"").replace(b"{", b"")) > MAX_JSON_DEPTH:
        decode_json(raw)  # says exactly what is wrong: too deep, or not JSON at all
    known = _KNOWN.get(shape)
    if known is None or known.limits is not limits:
        known = _know(shape, limits)
    try:
        value: T = known.decoder.decode(raw)
    except msgspec.MsgspecError as exc:
        value = _declared(raw, shape, exc, what)
    # A text takes at least a byte per character, an array two per item: a body no longer
    # than the smallest limit has nothing over any (most bodies: the check is skipped).
    if len(raw) > known.smallest and isinstance(value, msgspec.Struct):
        check_limits(value, limits)
    return value


def _declared(raw: bytes, shape: Any, exc: msgspec.MsgspecError, what: str) -> Any:
    """A body its shape's decoder refused: as the shape is declared, when an `each` array
    was decoded at once (a bad item is then refused alone), else the API's error."""
    declared = _DECLARED.get(shape)
    if declared is not None:
        try:
            return declared.decode(raw)
        except msgspec.MsgspecError as again:
            exc = again
    if isinstance(exc, msgspec.ValidationError):
        raise refusal(exc, what) from None
    if not raw.strip():
        raise BadJson("empty body: a JSON document was expected") from None
    raise BadJson(f"body is not valid JSON: {exc}") from None


def decode_as(raw: bytes, shape: Any, what: str = "body") -> Any:
    """As `decode`, for a shape that is not a class (a union)."""
    return decode(raw, shape, None, what)


def from_query(query: Mapping[str, str], shape: type[T], limits: LimitsConfig | None = None
               ) -> T:
    """A query string's fields as `shape` (all of them strings), within its limits."""
    try:
        value = msgspec.convert(dict(query), shape)
    except msgspec.ValidationError as exc:
        raise refusal(exc, "query") from None
    if isinstance(value, msgspec.Struct):
        check_limits(value, limits)
    return value


def items(value: msgspec.Struct, attr: str) -> list[Any | ApiError]:
    """The items of an array field declared with `each`, decoded one by one: a bad item is
    its error, in its place, and the others go on."""
    given = getattr(value, attr)
    if type(value) in _AT_ONCE:  # `decode` found every item good
        return given  # type: ignore[no-any-return]
    return decode_each(given, shape_info(type(value)).each[attr])


def decode_each(raws: list[msgspec.Raw], shape: Any) -> list[Any | ApiError]:
    decoder = _DECODERS.get(shape) or _decoder(shape)
    decoded: list[Any | ApiError] = []
    for raw in raws:
        try:
            decoded.append(decoder.decode(raw))
        except msgspec.ValidationError as exc:
            decoded.append(refusal(exc, "item"))
    return decoded


def plain(raw: msgspec.Raw) -> Any:
    """An item as plain JSON values, to report a refused one."""
    return msgspec.json.decode(raw)


def check_limits(value: msgspec.Struct, limits: LimitsConfig | None = None) -> None:
    """413 for a text or an array over its `max_chars`/`max_items` (shapes.py)."""
    for limit in shape_info(type(value)).limits:
        given = getattr(value, limit.attr)
        if not isinstance(given, str if limit.unit == "characters" else list):
            continue
        most = _most(limit, limits)
        if len(given) > most:
            raise TooLarge(f"{limit.name}: {len(given)} {limit.unit}, the limit is {most}")


def _most(limit: Limit, limits: LimitsConfig | None) -> int:
    return limit.most if isinstance(limit.most, int) else int(getattr(limits, limit.most))


@dataclass(frozen=True, slots=True)
class _Known:
    """A shape's decoder, and its smallest limit under the settings last given with it."""

    limits: LimitsConfig | None
    smallest: int
    decoder: msgspec.json.Decoder[Any]


_KNOWN: Final[dict[Any, _Known]] = {}


def _know(shape: Any, limits: LimitsConfig | None) -> _Known:
    """The shape's entry for these settings (kept until a reload replaces them); the smallest
    limit of a union is that of its Structs."""
    members = (shape,) if _is_struct(shape) else get_args(shape)
    smallest = min((_most(limit, limits) for member in members if _is_struct(member)
                    for limit in shape_info(member).limits), default=sys.maxsize)
    known = _KNOWN[shape] = _Known(limits, smallest, _DECODERS.get(shape) or _decoder(shape))
    return known


def _is_struct(shape: Any) -> bool:
    return isinstance(shape, type) and issubclass(shape, msgspec.Struct)


# -- errors ---------------------------------------------------------------------------------

_TYPES: Final = {"str": "a string", "int": "a number", "float": "a number",
                 "bool": "a boolean", "null": "null", "object": "an object", "array": "an array"}
_MISSING: Final = re.compile(r"Object missing required field `([^`]+)`")
_FIELD: Final = re.compile(r"\$\.([A-Za-z_][A-Za-z0-9_]*)(.*)")


def refusal(exc: msgspec.ValidationError, what: str) -> ApiError:
    """msgspec's error (`Expected `str`, got `int` - at `$.To[0].User``) as the API's."""
    message, _, path = str(exc).partition(" - at `")
    path = path.rstrip("`") or "$"
    missing = _MISSING.fullmatch(message)
    if missing:
        path, message = f"{path}.{missing[1]}", "missing"
    field = _FIELD.fullmatch(path)
    if field is None:
        return BadJson(f"{what}: a JSON object was expected")
    name, inner = field[1], field[2]
    problem = message if missing else _problem(message)
    return BadField(name, f"{problem} (at {name}{inner})" if inner else problem)


def _problem(message: str) -> str:
    if message.startswith("Expected `str` of length >= 1"):
        return "must not be empty"
    if message.startswith("Expected `array` of length >= 1"):
        return "expected a non-empty array"
    return re.sub(r"`([^`]+)`", lambda m: " or ".join(
        _TYPES.get(t, t) for t in m[1].split(" | ")), message).replace("Expected", "expected")


# -- per shape, once ------------------------------------------------------------------------

_DECODERS: Final[dict[Any, msgspec.json.Decoder[Any]]] = {}
_DECLARED: Final[dict[Any, msgspec.json.Decoder[Any]]] = {}  # shapes with `each`: as declared
_AT_ONCE: Final[set[type[msgspec.Struct]]] = set()  # the subclasses `decode` gives them


def _decoder(shape: Any) -> msgspec.json.Decoder[Any]:
    """The shape's decoder; for a shape with `each` arrays, that of a subclass whose arrays
    hold the items' shape: one msgspec call decodes a body whose items are all good (the
    rule), and a body it refuses is decoded again as declared (`_declared`)."""
    at_once = _items_at_once(shape) if _is_struct(shape) and shape_info(shape).each else None
    if at_once is None:
        decoder = _DECODERS[shape] = msgspec.json.Decoder(shape)
        return decoder
    _DECLARED[shape] = msgspec.json.Decoder(shape)
    _AT_ONCE.add(at_once)
    decoder = _DECODERS[shape] = msgspec.json.Decoder(at_once)
    return decoder


def _items_at_once(shape: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """`shape` with each `each` array's `list[Raw]` made a list of the items' shape (the
    same limits, names and descriptions)."""
    hints = get_type_hints(shape, include_extras=True)
    each = shape_info(shape).each
    info = mi.type_info(shape)
    assert isinstance(info, mi.StructType)
    arrays = [(field.name, _list_of(each[field.name], get_args(hints[field.name])[1:]),
               msgspec.field(name=field.encode_name))
              for field in info.fields if field.name in each]
    return msgspec.defstruct(shape.__name__, arrays, bases=(shape,), module=shape.__module__,
                             frozen=shape.__struct_config__.frozen, kw_only=True)


def _list_of(item: Any, metadata: tuple[Any, ...]) -> Any:
    """`Annotated[list[item], *metadata]`, built at run time."""
    return Annotated.__class_getitem__(  # type: ignore[attr-defined]
        (GenericAlias(list, item), *metadata))


class Limit(NamedTuple):
    attr: str
    name: str  # as the API names the field
    most: int | str  # a number, or the name of a [limits] setting
    unit: str


class ShapeInfo(NamedTuple):
    limits: tuple[Limit, ...]
    each: dict[str, Any]  # attribute → its items' shape


@cache
def shape_info(shape: type[msgspec.Struct]) -> ShapeInfo:
    info = mi.type_info(shape)
    assert isinstance(info, mi.StructType)
    limits: list[Limit] = []
    each: dict[str, Any] = {}
    for field in info.fields:
        for extra in extras(field.type):
            if "max_chars" in extra:
                limits.append(Limit(field.name, field.encode_name, extra["max_chars"],
                                    "characters"))
            if "max_items" in extra:
                limits.append(Limit(field.name, field.encode_name, extra["max_items"],
                                    extra.get("unit", "items")))
            if "each" in extra:
                each[field.name] = extra["each"]
    return ShapeInfo(tuple(limits), each)


def extras(kind: mi.Type) -> list[dict[str, Any]]:
    """The `Meta(extra=...)` of a field's type, and of its union's members."""
    if isinstance(kind, mi.Metadata):
        return [*([kind.extra] if kind.extra else []), *extras(kind.type)]
    if isinstance(kind, mi.UnionType):
        return [extra for member in kind.types for extra in extras(member)]
    return []


# -- the depth cap ---------------------------------------------------------------------------

def decode_json(raw: bytes) -> Any:
    """Any JSON document, no deeper than MAX_JSON_DEPTH (BadJson otherwise)."""
    if not raw.strip():
        raise BadJson("empty body: a JSON document was expected")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadJson(f"body is not valid JSON: {exc}") from None
    if _maybe_too_deep(raw):
        _check_depth(value)
    return value


_NODES: Final = bytes(c if c in b"[]{}" else ord("0") for c in range(256))


def _maybe_too_deep(raw: bytes) -> bool:
    """False when the document (if it is JSON) is no deeper than MAX_JSON_DEPTH.

    In C calls rather than a walk of the decoded values (an array of 100 messages: 40 µs
    instead of 170): strings and scalars become `0`, and each round removes the leaves,
    scalars and empty containers (as `0`, so that a container they leave empty waits for the
    next round); a document of depth d is gone after d rounds. A backslash may hide a quote:
    True, and the caller walks. (`decode` counts the brackets first: most bodies have too
    few of them to be too deep, and do not come here.)
    """
    if b"\\" in raw:
        return True
    nodes = b"0".join(raw.split(b'"')[::2]).translate(_NODES, b",: \t\r\n")
    for _ in range(MAX_JSON_DEPTH):
        if not nodes:
            return False
        nodes = nodes.replace(b"[]", b"0").replace(b"{}", b"0").replace(b"0", b"")
    return bool(nodes)


def _check_depth(value: Any) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise BadJson(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        children = node.values() if isinstance(node, dict) else node \
            if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children)
