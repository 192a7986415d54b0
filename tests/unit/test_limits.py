"""Every limit of [limits] refuses with 413 or 400 and a clear errmsg, and sends nothing.

The request-wide limits are checked on every route the app registers, so routes added later
are covered without touching this file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from component.errors import BadJson
from component.http.body import MAX_JSON_DEPTH, decode_json
from tests.unit.fakes import HOST, RecordingSink
from tests.unit.http_apps import SMALL_LIMITS, ApiClient, client_for, make_config, message_app

LIMITS = {**SMALL_LIMITS, "max_body_chars": 100}  # 5 items, 20000 B request, 4000 B stanza


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def client(sink: RecordingSink) -> AsyncIterator[ApiClient]:
    async with client_for(message_app(make_config(limits=LIMITS), sink)) as test_client:
        yield test_client


def mutating_paths(client: ApiClient) -> list[str]:
    return sorted({route.path for route in client.pipeline.routes.all if route.mutating})


async def post(client: ApiClient, path: str, body: Any) -> tuple[int, Any]:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    response = await client.post(f"/qtalk/{path}", data=raw)
    return response.status, orjson.loads(await response.read())


async def test_request_body_over_max_request_bytes_is_413_everywhere(
        client: ApiClient, sink: RecordingSink) -> None:
    big = orjson.dumps({"pad": "x" * 20001})
    for path in mutating_paths(client):
        status, reply = await post(client, path, big)
        assert (status, reply["errcode"]) == (413, 1005), path
        assert "too large" in reply["errmsg"]
    assert sink.sent == []


async def test_json_nested_too_deep_is_400_everywhere(client: ApiClient) -> None:
    deep = b'{"a":' * 40 + b"1" + b"}" * 40
    for path in mutating_paths(client):
        status, reply = await post(client, path, deep)
        assert (status, reply["errcode"]) == (400, 1001), path
        assert "deeper than 32" in reply["errmsg"]


def third(message: str = "<message><body>x</body></message>") -> dict[str, str]:
    return {"from": f"alice@{HOST}", "to": f"bob@{HOST}", "message": message}


def chat(**change: Any) -> dict[str, Any]:
    return {"From": "alice", "To": [{"User": "bob"}], "Body": "x", **change}


def notify(**change: Any) -> dict[str, Any]:
    return {"from": f"alice@{HOST}", "to": f"bob@{HOST}", "category": "1", **change}


OVER_LIMITS = {
    "thirdmessage items": ("send_thirdmessage", [third()] * 6, 413, "6 items, the limit is 5"),
    "send_xml items": ("send_xml", [third()] * 6, 413, "6 items, the limit is 5"),
    "send_message recipients": ("send_message", chat(To=[{"User": "bob"}] * 6), 413,
                                "6 recipients, the limit is 5"),
    "notify recipients": ("send_notify", notify(to=[f"bob@{HOST}"] * 6), 413,
                          "6 items, the limit is 5"),
    "Body chars": ("send_message", chat(Body="x" * 101), 413,
                   "Body: 101 characters, the limit is 100"),
    "Extend_Info chars": ("send_message", chat(Extend_Info="x" * 101), 413,
                          "Extend_Info: 101 characters, the limit is 100"),
    "notify data chars": ("send_notify", notify(data="x" * 101), 413,
                          "data: 101 characters, the limit is 100"),
    "thirdmessage XML bytes": ("send_thirdmessage",
                               third("<message><body>" + "x" * 4000 + "</body></message>"),
                               413, "bytes, the limit is 4000"),
    "thirdmessage stanza after addressing": (
        "send_thirdmessage",
        third("<message><body>" + "x" * 3700 + "</body></message>"), 413, "stanza would be"),
}


@pytest.mark.parametrize("case", list(OVER_LIMITS))
async def test_each_limit_refuses_alone(client: ApiClient, sink: RecordingSink,
                                        case: str) -> None:
    path, body, expected, words = OVER_LIMITS[case]
    status, reply = await post(client, path, body)
    assert (status, reply["ret"]) == (expected, False), reply
    assert words in reply["errmsg"] or any(
        words in item.get("errmsg", "") for item in _items(reply))
    assert sink.sent == []


def _items(reply: Any) -> list[dict[str, Any]]:
    data = reply.get("data")
    return data.get("items", []) if isinstance(data, dict) else []


async def test_just_under_every_limit_is_accepted(client: ApiClient,
                                                  sink: RecordingSink) -> None:
    for path, body in (("send_thirdmessage", [third()] * 5),
                       ("send_message", chat(To=[{"User": "bob"}] * 5, Body="y" * 100)),
                       ("send_notify", notify(to=[f"bob@{HOST}"] * 5, data="z" * 100))):
        status, reply = await post(client, path, body)
        assert (status, reply["ret"]) == (200, True), (path, reply)


@pytest.mark.parametrize(("path", "body"), [
    ("send_message", chat(Body="<" * 1500)),
    ("send_message", chat(Extend_Info="&" * 500)),
    ("send_notify", notify(data="<" * 1500)),
])
async def test_escaping_cannot_smuggle_a_stanza_over_the_limit(path: str, body: Any) -> None:
    """Within the text limits, but `<` is `&lt;` on the wire (and Extend_Info goes twice):
    the stanza would pass max_stanza_bytes, so it is refused before anything is written."""
    sink = RecordingSink()
    async with client_for(message_app(make_config(), sink)) as client:
        status, reply = await post(client, path, body)
    assert (status, reply["errcode"]) == (413, 1005)
    assert "stanza would be" in reply["errmsg"]
    assert "the limit is 4000" in reply["errmsg"]
    assert sink.sent == []


def test_json_depth_limit_is_exact() -> None:
    def nested(levels: int) -> bytes:
        return b"[" * levels + b"]" * levels

    assert decode_json(nested(MAX_JSON_DEPTH)) is not None
    with pytest.raises(BadJson):
        decode_json(nested(MAX_JSON_DEPTH + 1))
    # brackets inside strings are counted but do not make a document deep
    assert decode_json(orjson.dumps({"body": "[{" * 100})) == {"body": "[{" * 100}
