"""Every request field has the JSON type the API description gives it, or the answer is 400
errcode 1002 naming the field (README, answers and error codes), and nothing is sent.

The fields, their schemas and a working body for each endpoint come from the /openapi.json
the daemon serves; each field in turn gets each JSON value its schema refuses. The module has
a server and a daemon of its own: on a daemon that accepted those values, they would send
messages and make rooms.
"""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

import aiohttp
import jsonschema

from devenv.servers import XmppServer
from tests.integration.conftest import (
    Api,
    ClientFactory,
    RunningDaemon,
    private_daemon,
    private_make_user,
    private_server,
)
from tests.integration.xmpp_client import tag

xmpp_server = private_server
make_user = private_make_user
daemon = private_daemon

# One value of each JSON type, and the shapes a careless client sends instead of a string.
WRONG_VALUES: tuple[Any, ...] = (5, 4.5, True, None, {"x": "y"}, [], [5], "x")


def body_schema(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    """The object the operation's body is (the object variant of one-or-an-array)."""
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    variants: list[dict[str, Any]] = schema.get("oneOf", [schema])
    return next(variant for variant in variants if variant.get("type") == "object")


def refused_by(schema: dict[str, Any], value: Any) -> bool:
    return not jsonschema.Draft202012Validator(schema).is_valid(value)


class Probe(NamedTuple):
    path: str  # after /qtalk/
    field: str  # the one with the wrong value
    body: Any


async def wrong_typed_requests(daemon: RunningDaemon) -> list[Probe]:
    """Every field of every endpoint with a JSON body, with every value its schema refuses,
    in the endpoint's working example."""
    async with aiohttp.ClientSession() as session, \
            session.get(daemon.url.removesuffix("/qtalk/") + "/openapi.json") as response:
        document = await response.json()
    probes = []
    for path, methods in document["paths"].items():
        operation = methods.get("post")
        if not path.startswith("/qtalk/") or not operation or "requestBody" not in operation:
            continue
        example = operation["requestBody"]["content"]["application/json"]["example"]
        for field, schema in body_schema(document, operation)["properties"].items():
            probes += [Probe(path.removeprefix("/qtalk/"), field, {**example, field: value})
                       for value in WRONG_VALUES if refused_by(schema, value)]
    return probes


async def test_a_value_of_another_type_is_refused_naming_its_field(
        api: Api, daemon: RunningDaemon, xmpp_server: XmppServer,
        client_factory: ClientFactory) -> None:
    # The examples' users exist, and one is online: whatever the daemon sent would reach it.
    for user in ("test1", "test2", "test3"):
        xmpp_server.register(user, f"pw-{user}", exist_ok=True)
    recipient = await client_factory(f"test2@{xmpp_server.host}", "pw-test2")
    probes = await wrong_typed_requests(daemon)
    probes += [  # inside arrays
        Probe("send_message", "To", {"From": "test1", "To": [{"User": 5}], "Body": "hi"}),
        Probe("send_thirdmessage", "from", [{"from": 5, "to": f"test2@{xmpp_server.host}",
                                             "message": "<message><body>hi</body></message>"}])]
    assert len(probes) > 100
    accepted = []
    for probe in probes:
        status, reply = await api(probe.path, probe.body)
        if (status, reply["errcode"]) != (400, 1002) or f"{probe.field}:" not in reply["errmsg"]:
            accepted.append((probe, status, reply["errcode"], reply["errmsg"]))
    assert not accepted, "\n".join(map(repr, accepted))
    await asyncio.sleep(0.5)  # anything routed would be there by now
    assert not [m for m in recipient.messages() if m.find(tag("body")) is not None]
