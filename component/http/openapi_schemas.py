"""JSON Schemas (2020-12, as OpenAPI 3.1 uses them) of the API's bodies and answers.

Field names, types and limits are those the handlers read (messages.py, rooms.py,
room_requests.py, users.py, hosts.py); the errcodes come from ErrCode and the statuses from
the error classes, so the document cannot drift from them without a test noticing.
"""

from __future__ import annotations

from typing import Any

from component import errors
from component.config import LimitsConfig
from component.errors import ErrCode
from component.http.shapes import MAX_NAME, MAX_TEXT

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


# -- request fields ----------------------------------------------------------------------------

def text(description: str = "", *, max_chars: int | None = None, min_chars: int = 0) -> Schema:
    schema: Schema = {"type": "string"}
    if min_chars:
        schema["minLength"] = min_chars
    if max_chars is not None:
        schema["maxLength"] = max_chars
    if description:
        schema["description"] = description
    return schema


def obj(required: list[str], properties: dict[str, Schema], **extra: Any) -> Schema:
    return {"type": "object", "required": required, "properties": properties, **extra}


def names(max_items: int, description: str) -> Schema:
    return {"type": "array", "minItems": 1, "maxItems": max_items, "description": description,
            "items": text("a user name (on the host) or a bare JID; a bad one is refused "
                          "alone", min_chars=1)}


def name(description: str) -> Schema:
    return text(description, max_chars=MAX_NAME, min_chars=1)


FLAG: Schema = {"description": '`true`/`false` (booleans, "true"/"false", 0/1); "" leaves it',
                "anyOf": [{"type": "boolean"}, {"enum": ["true", "false", "1", "0", "", 0, 1]}]}
COUNT: Schema = {"description": 'a positive integer, or its ASCII digits; "" leaves it', "anyOf": [
    {"type": "integer", "minimum": 1, "maximum": (1 << 31) - 1},
    {"type": "string", "pattern": "^[0-9]*$"}]}
OWNER = {
    "muc_owner": name("the acting user: a name on `muc_owner_host`, or a JID"),
    "muc_owner_host": name("the users' domain (default: the first host)"),
    "muc_true_owner": name("the acting user, preferred over `muc_owner` when given"),
}
ACTOR = {"anyOf": [{"required": ["muc_owner"]}, {"required": ["muc_true_owner"]}]}
ROOM = {"muc_id": name("the room: a name, or a room JID"),
        "muc_domain": name("the MUC service (default: the configured one)")}
MGMT_ROOM = {"muc": name("the room: a name, or a room JID"),
             "domain": name("the MUC service (default: the configured one)")}


def third_item() -> Schema:
    return obj(["from", "to", "message"], {
        "from": text("the sender's JID, of a served domain", min_chars=1),
        "to": text("the recipient's JID (a user, or a room for a groupchat)", min_chars=1),
        "message": text("one <message> element, as XML (no DOCTYPE, entities, comments or "
                        "processing instructions)", min_chars=1)})


def request_bodies(limits: LimitsConfig) -> dict[str, Schema]:
    """Route path (after /qtalk/) → the JSON body its handler reads."""
    chars, items = limits.max_body_chars, limits.max_items
    return {
        "send_message": obj(["From", "To", "Body"], {
            "From": text("the sender: a user name on `Host`, or a JID", min_chars=1),
            "To": {"type": "array", "minItems": 1, "maxItems": items,
                   "items": obj(["User"], {"User": text("a user name or JID; a room for "
                                                        "groupchat", min_chars=1)})},
            "Body": text("the message text (may be empty)", max_chars=chars),
            "Type": text('"chat" (default), "groupchat", or a Startalk type such as '
                         '"revoke"'),
            "Msg_Type": text('Startalk msgType (default "1")'),
            "Host": text("the users' domain (default: the first host)"),
            "Domain": text("the MUC service (groupchat)"),
            "Extend_Info": text("Startalk extendInfo", max_chars=chars)}),
        "send_thirdmessage": {"oneOf": [third_item(), {
            "type": "array", "maxItems": items, "items": third_item()}]},
        "send_notify": obj(["from", "to", "category"], {
            "from": text("the sender's JID", min_chars=1),
            "to": {"oneOf": [text("a JID", min_chars=1), {
                "type": "array", "minItems": 1, "maxItems": items,
                "items": {"type": "string"}}]},
            "category": text("the notify category", min_chars=1),
            "data": text("the notify data", max_chars=chars)}),
        "get_user_nick": obj(["ID"], {"ID": name("a user name on `Domain`, or a JID"),
                                      "Domain": text("default: the first host",
                                                     max_chars=MAX_NAME)}),
        "add_host": obj(["host"], {"host": text("a domain name", max_chars=253, min_chars=1)}),
        **room_bodies(items),
    }


def room_bodies(items: int) -> dict[str, Schema]:
    members = {**ROOM, **OWNER, "muc_member": names(items, "the users to add or remove")}
    return {
        "create_muc": obj(["muc_id"], {
            **ROOM, **OWNER, "muc_name": text("the room's name", max_chars=MAX_TEXT),
            "muc_desc": text("the room's description", max_chars=MAX_TEXT)}, **ACTOR),
        "add_muc_user": obj(["muc_id", "muc_member"], members, **ACTOR),
        "del_muc_user": obj(["muc_id", "muc_member"], members, **ACTOR),
        "destroy_muc": obj(["muc_id"], {
            **ROOM, **OWNER, "host": name("the owner's domain (else `muc_owner_host`)"),
            "reason": text("told to the subscribers", max_chars=MAX_TEXT)}, **ACTOR),
        "muc_users": obj(["muc_id"], ROOM),
        "send_notice_vcard": obj(["muc_name"], NOTICE_FIELDS),
        "management/get_muc_opts": obj(["muc"], MGMT_ROOM),
        "management/change_muc_opts": obj(["muc"], {
            **MGMT_ROOM, "name": text("the room's name", max_chars=MAX_TEXT),
            "description": text("the room's description", max_chars=MAX_TEXT),
            "public": FLAG, "persistent": FLAG, "max_users": COUNT,
            "affiliations": text("the new owner (former owners stay members)",
                                 max_chars=MAX_TEXT),
            "host": text("the new owner's domain"),
            "forbidden_words": {"description": 'not supported: any value but "" is refused'}}),
        "management/del_muc_user": obj(["muc", "user"], {
            **MGMT_ROOM, "user": name("the user to remove"), "host": text("the user's domain")}),
        "clear_staff": obj(["host", "users"], {
            "host": name("the users' domain"),
            "users": names(items, "the users who leave every room")}),
    }


NOTICE_FIELDS: dict[str, Schema] = {
    "muc_name": name("the room: a name, or a room JID"),
    "muc_domain": name("the MUC service (default: the configured one)"),
    "show_name": text("the room's name", max_chars=MAX_TEXT),
    "muc_desc": text("the room's description", max_chars=MAX_TEXT),
    "muc_title": text("the group card's title", max_chars=MAX_TEXT),
    "muc_pic": text("the group card's picture URL", max_chars=MAX_TEXT),
}


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
