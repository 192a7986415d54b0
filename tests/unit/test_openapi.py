"""GET /openapi.json: valid OpenAPI 3.1, equal to the routes the daemon registers, and naming
every field the handlers read, every errcode and the status each error class answers with."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from component.app import Daemon
from component.errors import ErrCode
from component.http import hosts, messages, room_requests, rooms, users
from component.http.openapi import OPENAPI_PATH, build_document
from component.http.openapi_schemas import ERRCODE_MEANINGS, errcodes_by_status
from component.store.db import Database
from tests.unit.http_apps import bearer, client_for, integrator, make_config

README = Path(__file__).parents[2] / "README.md"
# Route → (required, optional) body fields, as the handlers read them.
FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "send_message": ({"From", "To", "Body"},
                     {"Type", "Msg_Type", "Host", "Domain", "Extend_Info"}),
    "send_notify": ({"from", "to", "category"}, {"data"}),
    "get_user_nick": ({"ID"}, {"Domain"}),
    "add_host": ({"host"}, set()),
    "create_muc": ({"muc_id"}, {"muc_domain", "muc_name", "muc_desc", "muc_owner",
                                "muc_owner_host", "muc_true_owner"}),
    "add_muc_user": ({"muc_id", "muc_member"},
                     {"muc_domain", "muc_owner", "muc_owner_host", "muc_true_owner"}),
    "del_muc_user": ({"muc_id", "muc_member"},
                     {"muc_domain", "muc_owner", "muc_owner_host", "muc_true_owner"}),
    "destroy_muc": ({"muc_id"}, {"muc_domain", "muc_owner", "muc_owner_host",
                                 "muc_true_owner", "host", "reason"}),
    "muc_users": ({"muc_id"}, {"muc_domain"}),
    "send_notice_vcard": ({"muc_name"},
                          {"muc_domain", "show_name", "muc_desc", "muc_title", "muc_pic"}),
    "management/get_muc_opts": ({"muc"}, {"domain"}),
    "management/change_muc_opts": ({"muc"}, {"domain", "name", "description", "public",
                                             "persistent", "max_users", "affiliations", "host",
                                             "forbidden_words"}),
    "management/del_muc_user": ({"muc", "user"}, {"domain", "host"}),
    "clear_staff": ({"host", "users"}, set()),
}
THIRD_ITEM = {"from", "to", "message"}
# Calls whose string arguments (after the object read) name request fields.
FIELD_READERS = {"req_str", "opt_str", "opt_text", "opt_flag", "opt_count", "str_or_list",
                 "user_list", "room_of", "_room", "bare_address", "get", "BadField"}


@pytest.fixture
def document() -> dict[str, Any]:
    return build_document(make_config())


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)


async def test_paths_and_methods_are_those_the_daemon_registers(
        document: dict[str, Any], db: Database) -> None:
    routes = Daemon(make_config(), db).pipeline.routes.all
    registered = {(route.url, method) for route in routes for method in route.methods}
    documented = {(path, method.upper()) for path, item in document["paths"].items()
                  for method in item}
    assert documented == registered


def test_every_errcode_is_listed_with_the_readmes_meaning(document: dict[str, Any]) -> None:
    schema = document["components"]["schemas"]["ErrCode"]
    assert schema["enum"] == [int(code) for code in ErrCode]
    assert schema["x-enum-varnames"] == [code.name for code in ErrCode]
    table = README.read_text(encoding="utf-8").split("<!-- errcodes")[1]
    rows = re.findall(r"^\| (\d+) \| [A-Z_]+ \| (.+) \|$", table.split("<!-- /errcodes")[0],
                      re.MULTILINE)
    assert {int(code): meaning for code, meaning in rows} == \
        {int(code): meaning for code, meaning in ERRCODE_MEANINGS.items()}


def test_every_example_body_is_valid_under_its_schema(document: dict[str, Any]) -> None:
    bodies = [(path, op["requestBody"]["content"]["application/json"])
              for path, item in document["paths"].items() for op in item.values()
              if "requestBody" in op]
    assert len(bodies) == 16
    for _, media in bodies:  # the document is the root its $refs resolve in
        OAS31Validator({**document, **media["schema"]}).validate(media["example"])


def test_each_status_names_the_errcodes_of_its_error_classes() -> None:
    by_status = errcodes_by_status()
    assert by_status[404] == [ErrCode.UNKNOWN_PATH, ErrCode.NOT_FOUND, ErrCode.NO_SUCH_USER]
    assert by_status[503] == [ErrCode.LINK_DOWN, ErrCode.OUTBOX_FULL, ErrCode.KEYS_UNAVAILABLE,
                              ErrCode.OVERLOADED, ErrCode.SHARED_STATE_UNAVAILABLE]
    assert {code for codes in by_status.values() for code in codes} == set(ErrCode)


def test_request_schemas_have_the_fields_the_handlers_read(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for route, (required, optional) in FIELDS.items():
        schema = schemas[route.replace("/", "_")]
        assert set(schema["required"]) == required, route
        assert set(schema["properties"]) == required | optional, route
    for name in ("send_thirdmessage", "send_xml"):
        single, array = schemas[name]["oneOf"]
        assert set(single["required"]) == set(single["properties"]) == THIRD_ITEM
        assert array["items"] == single
    query = {p["name"] for p in document["paths"]["/qtalk/send_notice_vcard"]["get"]
             ["parameters"] if "name" in p} | _parameter_names(document, "send_notice_vcard")
    assert query >= FIELDS["send_notice_vcard"][0] | FIELDS["send_notice_vcard"][1]


def _parameter_names(document: dict[str, Any], route: str) -> set[str]:
    parameters = document["components"]["parameters"]
    refs = document["paths"][f"/qtalk/{route}"]["get"]["parameters"]
    return {parameters[p["$ref"].rsplit("/", 1)[1]]["name"] for p in refs if "$ref" in p}


def test_every_field_name_in_the_handlers_source_is_documented(
        document: dict[str, Any]) -> None:
    """A field a handler starts reading cannot be left out of the document unnoticed."""
    documented = set(_property_names(document["components"]["schemas"]))
    documented |= {p["name"] for p in document["components"]["parameters"].values()}
    documented |= {"jid", "Idempotency-Key"}
    read = set(_fields_read(hosts, messages, room_requests, rooms, users))
    assert read, "the scan found nothing: FIELD_READERS is out of date"
    assert read - documented == set()


def _property_names(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            yield from node["properties"]
        for value in node.values():
            yield from _property_names(value)
    elif isinstance(node, list):
        for value in node:
            yield from _property_names(value)


def _fields_read(*modules: Any) -> Iterator[str]:
    for module in modules:
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            candidates: list[ast.expr] = []
            if isinstance(node, ast.Call):
                candidates += _field_arguments(node)
                candidates += [k.value for k in node.keywords if (k.arg or "").endswith("_key")]
            elif isinstance(node, ast.Subscript):
                candidates.append(node.slice)
            elif isinstance(node, ast.arguments) and node.defaults:
                named = node.args[-len(node.defaults):]
                candidates += [d for a, d in zip(named, node.defaults, strict=True)
                               if a.arg.endswith("_key")]
            yield from (c.value for c in candidates if isinstance(c, ast.Constant)
                        and isinstance(c.value, str) and re.fullmatch(r"[A-Za-z_]+", c.value))


def _field_arguments(call: ast.Call) -> list[ast.expr]:
    """Where each reader takes field names: `obj.get(name)`, `req_str(obj, name)`..."""
    name = getattr(call.func, "attr", getattr(call.func, "id", ""))
    if name in ("get", "BadField"):
        return call.args[:1]
    if name in ("room_of", "_room"):
        return call.args[1:3]
    if name == "bare_address":
        return call.args[2:3]
    return call.args[1:2] if name in FIELD_READERS else []


async def test_served_without_credentials_and_equal_to_the_built_document(
        db: Database) -> None:
    config = make_config(integrators=[integrator("hr", "tok-hr")])
    async with client_for(Daemon(config, db).pipeline) as client:
        response = await client.get(OPENAPI_PATH)
        assert response.status == 200
        assert response.content_type == "application/json"
        served = orjson.loads(await response.read())
        refused = await client.post("/qtalk/send_message", data=b"{}")
        allowed = await client.post("/qtalk/send_message", data=b"{}", headers=bearer("tok-hr"))
    assert served == build_document(config)
    assert (refused.status, allowed.status) == (401, 400)
    operation = served["paths"]["/qtalk/send_message"]["post"]
    assert operation["security"] == [{"bearer": []}]
    assert {"401", "403", "429"} <= set(operation["responses"])
    assert served["paths"]["/healthz"]["get"]["security"] == []


def test_without_integrators_no_credentials_are_documented(document: dict[str, Any]) -> None:
    operation = document["paths"]["/qtalk/send_message"]["post"]
    assert operation["security"] == []
    assert "429" not in operation["responses"]


def test_limits_come_from_the_config() -> None:
    schemas = build_document(make_config(limits={"max_items": 7, "max_body_chars": 99}))[
        "components"]["schemas"]
    assert schemas["send_message"]["properties"]["To"]["maxItems"] == 7
    assert schemas["send_message"]["properties"]["Body"]["maxLength"] == 99
    assert schemas["clear_staff"]["properties"]["users"]["maxItems"] == 7
