"""GET /openapi.json: valid OpenAPI 3.1, equal to the routes the daemon registers, its request
schemas those of the Structs the handlers decode, with every errcode and the status each error
class answers with."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from component.app import Daemon
from component.errors import ErrCode
from component.http.openapi import OPENAPI_PATH, build_document
from component.http.openapi_schemas import ERRCODE_MEANINGS, errcodes_by_status
from component.http.shapes import BODIES, ONE_OR_MANY, NoticeVcard
from component.store.db import Database
from tests.unit.http_apps import bearer, client_for, integrator, make_config

README = Path(__file__).parents[2] / "README.md"


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


def test_each_body_schema_is_its_structs(document: dict[str, Any]) -> None:
    """The schemas come from the Structs the handlers decode: same names, same required."""
    schemas = document["components"]["schemas"]
    for path, item in document["paths"].items():
        route = path.removeprefix("/qtalk/")
        for method, operation in item.items():
            if "requestBody" not in operation:
                assert route not in BODIES or method == "get", path
                continue
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            schema = schemas[ref.rsplit("/", 1)[1]]
            if route in ONE_OR_MANY:
                single, array = schema["oneOf"]
                schema = single
                assert array["items"] == single
            fields = msgspec.structs.fields(BODIES[route])
            assert set(schema["properties"]) == {f.encode_name for f in fields}, route
            assert set(schema.get("required", ())) == {f.encode_name for f in fields
                                                       if f.required}, route


def test_the_query_of_send_notice_vcard_is_its_struct(document: dict[str, Any]) -> None:
    query = _parameter_names(document, "send_notice_vcard") - {"X-Request-Id", "Idempotency-Key"}
    assert query == {f.encode_name for f in msgspec.structs.fields(NoticeVcard)}
    required = {p["name"] for p in document["components"]["parameters"].values()
                if p["in"] == "query" and p["name"] in query and p["required"]}
    assert required == {"muc_name"}


def _parameter_names(document: dict[str, Any], route: str) -> set[str]:
    parameters = document["components"]["parameters"]
    refs = document["paths"][f"/qtalk/{route}"]["get"]["parameters"]
    return {parameters[p["$ref"].rsplit("/", 1)[1]]["name"] for p in refs if "$ref" in p}


async def test_each_handler_decodes_its_documented_struct(db: Database) -> None:
    """An empty object is refused naming the first required field of the route's Struct."""
    async with client_for(Daemon(make_config(), db).pipeline) as client:
        for route, struct in BODIES.items():
            first = next(f.encode_name for f in msgspec.structs.fields(struct) if f.required)
            response = await client.post(f"/qtalk/{route}", data=b"{}")
            reply = orjson.loads(await response.read())
            assert (response.status, reply["errmsg"]) == (400, f"{first}: missing"), route


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
    assert schemas["SendMessage"]["properties"]["To"]["maxItems"] == 7
    assert schemas["SendMessage"]["properties"]["Body"]["maxLength"] == 99
    assert schemas["ClearStaff"]["properties"]["users"]["maxItems"] == 7
