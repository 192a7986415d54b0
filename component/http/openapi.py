"""`GET /openapi.json`: an OpenAPI 3.1 description of every endpoint the daemon serves.

Built once per app from the config (limits, and whether bearer tokens are needed) and
served as bytes, without credentials like /healthz. The request bodies' schemas are those of
the Structs the handlers decode (shapes.py, openapi_bodies.py). tests/unit/test_openapi.py
keeps it equal to the routes the app registers; schemathesis runs against it in
tests/integration/test_schemathesis.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import msgspec
import orjson

from component.config import Config
from component.http import openapi_schemas as s
from component.http.envelope import JSON_TYPE, Answer
from component.http.openapi_bodies import query_fields, request_schemas
from component.http.openapi_examples import examples
from component.http.route import GET, Request, Route
from component.http.shapes import NoticeVcard

OPENAPI_PATH = "/openapi.json"
REF = "#/components/{}/{}"
Schema = s.Schema


@dataclass(frozen=True)
class Op:
    """One documented operation of a /qtalk/ path."""

    tag: str
    summary: str
    data: Schema                         # `data` of a 200
    statuses: tuple[int, ...] = ()       # besides 400 and 500 (and the integrators' ones)
    partial: Schema | None = None        # `data` of a 207 and of a refused batch
    body: bool = True                    # reads the JSON body of its path
    query: tuple[str, ...] = ()          # components/parameters it reads
    mutating: bool = True                # audited; Idempotency-Key applies


MESSAGE = (403, 404, 413, 501, 502, 503, 504)
ROOM = (403, 404, 413, 502, 503, 504)
SENT, OPTIONS, MEMBERS = s.ref("SentItems"), s.ref("RoomOptions"), s.ref("MemberItems")
THIRD = Op("messages", "send <message> stanzas given as XML, as their senders",
           {"anyOf": [s.ref("SentOne"), SENT]}, (*MESSAGE, 207), SENT, query=("wait",))
NOTICE = ("groups", "push the group card to the room's members (and store its values)")
AUTH_UK = Op("users", "check a user key (u, k in the query string; any method)",
             s.EMPTY, (401, 403, 503), body=False, query=("u", "k"), mutating=False)
AVATAR = Op("users", "the inline vCard photo of a user (image types only)", {},
            (403, 404, 502, 503, 504), body=False, mutating=False)

QTALK: dict[str, dict[str, Op]] = {
    "send_thirdmessage": {"post": THIRD},
    "send_xml": {"post": replace(THIRD, summary="deprecated name of send_thirdmessage")},
    "send_message": {"post": Op("messages", "one message per recipient, or to a room",
                                SENT, (*MESSAGE, 207), SENT, query=("wait",))},
    "send_notify": {"post": Op("messages", "a headline notify to each recipient",
                               SENT, (403, 404, 413, 501, 503, 207), SENT, query=("wait",))},
    "create_muc": {"post": Op("groups", "create a persistent members-only room",
                              OPTIONS, (*ROOM, 409))},
    "add_muc_user": {"post": Op("groups", "affiliate, subscribe and invite members",
                                MEMBERS, (*ROOM, 207), MEMBERS)},
    "del_muc_user": {"post": Op("groups", "remove members (owners and admins only)",
                                MEMBERS, (*ROOM, 207), MEMBERS)},
    "destroy_muc": {"post": Op("groups", "destroy a room (owners only)",
                               s.ref("Destroyed"), ROOM)},
    "muc_users": {"post": Op("groups", "the room's members, owners first",
                             s.ref("Members"), ROOM, mutating=False)},
    "send_notice_vcard": {
        "get": Op(*NOTICE, OPTIONS, ROOM, body=False,
                  query=tuple(f.encode_name for f in msgspec.structs.fields(NoticeVcard))),
        "post": Op(*NOTICE, OPTIONS, ROOM)},
    "management/get_muc_opts": {"post": Op("groups", "the room's options", OPTIONS, ROOM,
                                           mutating=False)},
    "management/change_muc_opts": {"post": Op("groups", "change the room's configuration",
                                              OPTIONS, (*ROOM, 501))},  # max_users on Prosody
    "management/del_muc_user": {"post": Op("groups", "remove a user, handing ownership over",
                                           s.ref("Removal"), ROOM)},
    "clear_staff": {"post": Op("groups", "remove users from every room",
                               s.ref("StaffItems"), (*ROOM, 207), s.ref("StaffItems"))},
    "get_user_nick": {"post": Op("users", "a user's nick and avatar URL", s.ref("Nick"),
                                 (403, 404, 413, 502, 503, 504), mutating=False)},
    "auth_uk": {m: AUTH_UK for m in ("get", "head", "post", "put", "delete", "patch",
                                     "options")},
    "avatar/{jid}": {"get": AVATAR, "head": AVATAR},
    "add_host": {"post": Op("users", "serve one more user domain", s.ref("AddedHost"),
                            (403, 413))},
}


def _param(where: str, name: str, schema: Schema, description: str,
           required: bool = False) -> Schema:
    return {"in": where, "name": name, "schema": schema, "description": description,
            "required": required}


def _parameters(bodies: dict[str, Schema]) -> dict[str, Schema]:
    notice = {key: _param("query", key, schema, schema.get("description", ""), required)
              for key, (schema, required)
              in query_fields(NoticeVcard.__name__, bodies).items()}
    return {
        "X-Request-Id": _param("header", "X-Request-Id", {"type": "string"},
                               "echoed in the answer's X-Request-Id when it is 1 to 128 of "
                               "A-Za-z0-9._:@/+=- (else a new id is made)"),
        "Idempotency-Key": _param("header", "Idempotency-Key", {
            "type": "string", "pattern": r'^"?[!-~]{1,255}"?$'},
            "a retry with the same key gets the first answer back (kept 24 h, below 500); "
            "the same key with another body is 409"),
        "wait": _param("query", "wait", {"type": "number", "minimum": 0, "maximum": 60},
                       "seconds to wait for the server's acknowledgement (0: do not wait)"),
        "u": _param("query", "u", {"type": "string", "minLength": 1},
                    "the user: a name (first host) or user@domain", required=True),
        "k": _param("query", "k", {"type": "string", "minLength": 1}, "the user key",
                    required=True),
        **notice,
    }


def _headers() -> dict[str, Schema]:
    def header(description: str) -> Schema:
        return {"description": description, "schema": {"type": "string"}}

    return {"X-Request-Id": header("the caller's request id, or a new one"),
            "Retry-After": header("seconds to wait before retrying"),
            "WWW-Authenticate": header('Bearer realm="qtalk"'),
            "Idempotent-Replayed": header('"true" on an answer replayed for an '
                                          "Idempotency-Key")}


def _content(schema: Schema, media: str = JSON_TYPE) -> Schema:
    return {media: {"schema": schema}}


def _response(status: int, data: Schema | None = None, *, headers: tuple[str, ...] = ()
              ) -> Schema:
    codes = ", ".join(f"{int(c)} {c.name}" for c in s.errcodes_by_status()[status])
    content = _content(s.answer(status, data))
    return {"description": f"errcode {codes}",
            "headers": {name: {"$ref": REF.format("headers", name)}
                        for name in ("X-Request-Id", *headers)},
            "content": content}


ERROR_HEADERS = {401: ("WWW-Authenticate",), 429: ("Retry-After",), 503: ("Retry-After",)}
# What the server itself may answer to any request: a malformed head (400), one too slow
# (408), too large (413 by Content-Length, 431 a head), an unknown transfer coding (501),
# too many connections (503), and the last resort (500).
SERVER_STATUSES = (400, 408, 413, 431, 500, 501, 503)


def _errors() -> dict[str, Schema]:
    """components/responses: each error status with an empty `data`."""
    return {str(status): _response(status, s.EMPTY, headers=ERROR_HEADERS.get(status, ()))
            for status in s.errcodes_by_status() if status >= 400}


def _qtalk_operation(path: str, method: str, op: Op, config: Config, example: Any,
                     body: str) -> Schema:
    statuses = {*SERVER_STATUSES, *op.statuses, *((401, 403, 429) if config.integrators else ())}
    if op.mutating:
        statuses.add(409)  # an Idempotency-Key reused for another body
    refused = {"anyOf": [s.EMPTY, op.partial]}
    responses = {str(status): _response(status, refused, headers=ERROR_HEADERS.get(status, ()))
                 if op.partial and status != 500 else {"$ref": REF.format("responses", status)}
                 for status in sorted(statuses)}
    ok = _response(200, op.data, headers=("Idempotent-Replayed",) if op.mutating else ())
    if path == "avatar/{jid}":
        ok = {**ok, "description": "the photo, of an image type (README); no inline photo, "
                                   "or one of another type, is 404",
              "content": {"image/*": {}}}
    responses["200"] = ok
    names = ["X-Request-Id", *op.query, *(["Idempotency-Key"] if op.mutating else [])]
    parameters: list[Schema] = [{"$ref": REF.format("parameters", n)} for n in names]
    if path == "avatar/{jid}":
        parameters.append({"in": "path", "name": "jid", "required": True,
                           "schema": {"type": "string", "minLength": 1},
                           "description": "the user's bare JID, or a name on the first host",
                           "example": f"test1@{config.xmpp.hosts[0]}"})
    operation: Schema = {
        "operationId": re.sub(r"[^a-z]+", "_", path) + "_" + method,
        "tags": [op.tag], "summary": op.summary, "parameters": parameters,
        "responses": responses,
        "security": [{"bearer": []}] if config.integrators else []}
    if op.body:
        schema = {"$ref": REF.format("schemas", body)}
        operation["requestBody"] = {"required": True, "content": {
            JSON_TYPE: {"schema": schema, "example": example}}}
    return operation


def _probe(tag: str, summary: str, ok: Schema, extra: dict[str, Schema] | None = None,
           method: str = "get") -> Schema:
    responses = {**{str(status): {"$ref": REF.format("responses", status)}
                    for status in SERVER_STATUSES}, "200": ok, **(extra or {})}
    return {"operationId": f"{tag}_{method}", "tags": ["probes"], "summary": summary,
            "security": [], "responses": responses,
            "parameters": [{"$ref": REF.format("parameters", "X-Request-Id")}]}


def _probes() -> dict[str, Schema]:
    metrics = {"description": "Prometheus text format", "content": _content(
        {"type": "string"}, "text/plain")}
    ready = s.ref("Readiness")
    spec = {"description": "this document", "content": _content({"type": "object"})}
    probes: dict[str, tuple[str, str, Schema, dict[str, Schema] | None]] = {
        "/healthz": ("healthz", "200 while the process runs", _response(200, s.EMPTY), None),
        "/readyz": ("readyz", "200 when the link is up and the store writable, else 503",
                    _response(200, ready),
                    {"503": _response(503, ready, headers=ERROR_HEADERS[503])}),
        "/metrics": ("metrics", "Prometheus metrics", metrics, None),
        OPENAPI_PATH: ("openapi", "this OpenAPI document", spec, None),
    }
    return {path: {method: _probe(tag, summary, ok, extra, method) for method in ("get", "head")}
            for path, (tag, summary, ok, extra) in probes.items()}


DESCRIPTION = """The QTalk/Startalk integration API of qtalk-component (README.md).

Every answer under /qtalk/ is the envelope `{"ret", "errcode", "errmsg", "data"}`. Every field
has the JSON type its schema gives (a text field takes a string, never a number or null); any
other value is 400, errcode 1002, with `errmsg` naming the field. A method a path does not
list is 405 (errcode 1007, with `Allow`); an unknown path is 404 (errcode 1006); a body over
`limits.max_request_bytes` is 413. With `http.always_200 = true` every status is 200 and the
envelope is the only signal. With `[[integrators]]` configured, every /qtalk/ call needs a
bearer token; the probes never do."""


def build_document(config: Config) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the daemon's app (app.py) under this config."""
    shown = examples(config.xmpp.hosts[0], config.xmpp.muc_domain)
    shown["send_xml"] = shown["send_thirdmessage"]
    bodies, body_of = request_schemas(config.limits)
    assert not bodies.keys() & s.DATA.keys(), "a body's Struct is named as an answer's schema"
    paths: dict[str, Any] = {
        f"/qtalk/{path}": {method: _qtalk_operation(path, method, op, config, shown.get(path),
                                                    body_of.get(path, ""))
                           for method, op in methods.items()}
        for path, methods in QTALK.items()}
    return {
        "openapi": "3.1.0",
        "info": {"title": "qtalk-component", "version": "0.1.0", "description": DESCRIPTION},
        "tags": [{"name": name} for name in ("messages", "groups", "users", "probes")],
        "paths": {**paths, **_probes()},
        "components": {
            "schemas": {"ErrCode": s.errcode_schema(), "Envelope": s.ENVELOPE, **s.DATA,
                        **bodies},
            "parameters": _parameters(bodies), "headers": _headers(), "responses": _errors(),
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "an integrator's token; required on /qtalk/ once "
                               "[[integrators]] are configured"}}},
    }


def openapi_route(config: Config) -> Route:
    body = orjson.dumps(build_document(config))

    async def openapi(request: Request) -> Answer:
        return Answer(200, 0, body)

    return Route(OPENAPI_PATH, GET, openapi, mutating=False, public=True)
