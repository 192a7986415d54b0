"""JSON Schemas (2020-12, as OpenAPI 3.1 uses them) of the API's answers.

The errcodes come from ErrCode and the statuses from the error classes, so the document
cannot drift from them without a test noticing. The request bodies' schemas are generated
from their Structs (openapi_bodies.py).
"""

from __future__ import annotations

from typing import Any

from component import errors
from component.errors import ErrCode

Schema = dict[str, Any]

# Kept equal to README's errcode table by tests/unit/test_openapi.py.
ERRCODE_MEANINGS: dict[ErrCode, str] = {
    ErrCode.SUCCESS: "done",
    ErrCode.FAILED: "a batch where some items were refused (see `data.items`)",
    ErrCode.BAD_JSON: "the body is not JSON, not the expected shape, or nested too deep",
    ErrCode.BAD_FIELD: "a field is missing or has a wrong type or value (`errmsg` names it)",
    ErrCode.BAD_STANZA: "the XML of a message was refused (`errmsg` says why)",
    ErrCode.DOMAIN_NOT_SERVED: "a `from`/`to`/host is not a domain this daemon serves",
    ErrCode.TOO_LARGE: "the body, an array, a stanza or a text is over its limit",
    ErrCode.UNKNOWN_PATH: "no such endpoint",
    ErrCode.METHOD_NOT_ALLOWED: "wrong HTTP method for this endpoint",
    ErrCode.NOT_FOUND: "no such room, user or object",
    ErrCode.CONFLICT: "it exists already, or an Idempotency-Key was reused for another request",
    ErrCode.NOT_SUPPORTED: "the operation is not possible (on this server)",
    ErrCode.AUTH_FAILED: "`auth_uk`: the user key is wrong, expired or not for this host",
    ErrCode.BAD_HTTP: "the HTTP request itself: a malformed head (400), too slow (408), a "
                      "transfer coding other than chunked (501)",
    ErrCode.NO_SUCH_USER: "a recipient has no account on the server: nothing was sent to it",
    ErrCode.UNAUTHORIZED: "no token, or a wrong one",
    ErrCode.FORBIDDEN: "the token may not use this endpoint, host or source address; "
                       "or not an owner",
    ErrCode.RATE_LIMITED: "over the integrator's request rate, or too many failed tokens "
                          "from the client's address",
    ErrCode.LINK_DOWN: "the component link is down and nothing could be kept",
    ErrCode.XMPP_TIMEOUT: "the XMPP server did not answer in time",
    ErrCode.XMPP_ERROR: "the XMPP server answered with an error",
    ErrCode.OUTBOX_FULL: "the outbox is full; retry after `Retry-After` seconds",
    ErrCode.KEYS_UNAVAILABLE: "`auth_uk`: the key backend (Redis) cannot be reached",
    ErrCode.OVERLOADED: "too many open connections (`http.max_connections`), or the daemon "
                        "is stopping; retry after `Retry-After` seconds",
    ErrCode.SHARED_STATE_UNAVAILABLE: "the shared state of a cluster (`[shared] redis_url`) "
                                      "cannot be reached: user keys, `add_host`, "
                                      "`Idempotency-Key` and message ids wait for it; retry "
                                      "after `Retry-After` seconds",
    ErrCode.INTERNAL: "an unexpected error, logged by the daemon",
}


def errcodes_by_status() -> dict[int, list[ErrCode]]:
    """HTTP status → the errcodes answered with it, read off the error classes."""
    found: dict[int, set[ErrCode]] = {200: {ErrCode.SUCCESS}, 207: {ErrCode.FAILED}}
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, errors.ApiError):
            found.setdefault(value.http_status, set()).add(value.errcode)
    return {status: sorted(codes) for status, codes in sorted(found.items())}


def errcode_schema() -> Schema:
    table = "\n".join(f"* `{int(code)}` {code.name}: {ERRCODE_MEANINGS[code]}"
                      for code in ErrCode)
    return {"type": "integer", "enum": [int(code) for code in ErrCode],
            "x-enum-varnames": [code.name for code in ErrCode],
            "x-enum-descriptions": [ERRCODE_MEANINGS[code] for code in ErrCode],
            "description": "Stable error code of the envelope:\n\n" + table}


ENVELOPE: Schema = {
    "type": "object", "required": ["ret", "errcode", "errmsg", "data"],
    "additionalProperties": False,
    "properties": {"ret": {"type": "boolean"}, "errcode": {"$ref": "#/components/schemas/ErrCode"},
                   "errmsg": {"type": "string"}, "data": {}},
}


def answer(status: int, data: Schema | None = None) -> Schema:
    """The envelope as answered with `status`: its ret, its errcodes, its data."""
    codes = [int(code) for code in errcodes_by_status()[status]]
    return {"allOf": [{"$ref": "#/components/schemas/Envelope"}, {"properties": {
        "ret": {"const": status == 200},
        "errcode": {"const": codes[0]} if len(codes) == 1 else {"enum": codes},
        "data": data if data is not None else {}}}]}


# -- answers' data ---------------------------------------------------------------------------

def _props(required: list[str], properties: dict[str, Schema]) -> Schema:
    return {"type": "object", "required": required, "properties": properties}


STRING, BOOL, INT = {"type": "string"}, {"type": "boolean"}, {"type": "integer"}
MAYBE_STRING: Schema = {"type": ["string", "null"]}
DELIVERY: Schema = {"enum": ["accepted", "routed", "queued"],
                    "description": "accepted: durable and written to the server (the default "
                                   "answer); routed: the server acknowledged it (with "
                                   "?wait=N); queued: kept durably, sent as soon as possible"}
REFUSAL = {"errcode": {"$ref": "#/components/schemas/ErrCode"}, "errmsg": STRING}
SENT_ONE = _props(["id", "status"], {"id": STRING, "status": DELIVERY, "duplicate": BOOL})
SENT_ITEMS = _props(["status", "items"], {"status": {
    "enum": ["accepted", "routed", "queued", None],
    "description": "null when nothing was sent"}, "items": {
    "type": "array", "items": _props(["index", "to", "ok"], {
        "index": INT, "to": STRING, "ok": BOOL, "id": MAYBE_STRING, "duplicate": BOOL,
        "status": DELIVERY, **REFUSAL})}})
ROOM_OPTIONS = _props(["mucid", "owner"], {
    "mucid": STRING, "maxusers": {"type": ["integer", "null"]}, "showname": STRING,
    "owner": {"type": "array", "items": _props(["user", "host"],
                                               {"user": STRING, "host": STRING})},
    "description": STRING, "public": BOOL, "persistent": BOOL, "membersonly": BOOL,
    "title": STRING, "picture": STRING, "version": INT})
MEMBER_ITEMS = _props(["mucid", "items"], {"mucid": STRING, "items": {
    "type": "array", "items": _props(["index", "user", "ok", "status"], {
        "index": INT, "user": STRING, "ok": BOOL, "new_owner": MAYBE_STRING, **REFUSAL,
        "status": {"enum": ["added", "already a member", "removed", "not a member",
                            "refused"]}})}})
STAFF_ITEMS = _props(["items"], {"items": {
    "type": "array", "items": _props(["index", "user", "ok"], {
        "index": INT, "user": STRING, "ok": BOOL, "status": STRING, **REFUSAL,
        "rooms": {"type": "array", "items": _props(["mucid"], {
            "mucid": STRING, "new_owner": MAYBE_STRING})},
        "failed": {"type": "array", "items": _props(["mucid"], {"mucid": STRING, **REFUSAL})},
    })}})
MEMBERS = {"type": "array", "items": _props(["U", "H", "N", "A"], {
    "U": STRING, "H": STRING, "N": STRING, "A": {"enum": ["owner", "admin", "member"]}})}
NICK = _props(["Nick", "Vcard"], {"Nick": STRING, "Vcard": MAYBE_STRING})
ADDED_HOST = _props(["host", "added"], {"host": STRING, "added": BOOL})
REMOVAL = _props(["mucid", "user", "new_owner"],
                 {"mucid": STRING, "user": STRING, "new_owner": MAYBE_STRING})
DESTROYED = _props(["mucid"], {"mucid": STRING})
READINESS = _props(["link", "store"], {"link": BOOL, "store": BOOL})
EMPTY = {"const": ""}

DATA: dict[str, Schema] = {
    "SentOne": SENT_ONE, "SentItems": SENT_ITEMS, "RoomOptions": ROOM_OPTIONS,
    "MemberItems": MEMBER_ITEMS, "StaffItems": STAFF_ITEMS, "Members": MEMBERS, "Nick": NICK,
    "AddedHost": ADDED_HOST, "Removal": REMOVAL, "Destroyed": DESTROYED,
    "Readiness": READINESS}


def ref(name: str) -> Schema:
    assert name in DATA, name
    return {"$ref": f"#/components/schemas/{name}"}
