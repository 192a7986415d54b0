"""Random and hostile bodies to every endpoint: always the envelope, never a server error.

Two apps are fuzzed. The message routes over a RecordingSink must never answer 5xx at all.
The whole daemon, as app.py composes it and linked to the scripted XEP-0114 server, is
fuzzed on every route its app registers, so endpoints added later are covered without
touching this file; there an honest 502/503/504 is allowed (the fake server answers no iq
but pings), a 500 is not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from component.app import Daemon
from component.http.route import Route
from component.store.db import Database
from devenv.proc import free_ports
from tests.unit.fake_server import FakeComponentServer
from tests.unit.fakes import HOST, RecordingSink
from tests.unit.http_apps import ApiClient, client_for, make_config, message_app
from tests.unit.strategies import bodies

HOSTS = (HOST, "other.test.org")
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
KEYS = st.one_of(st.none(), st.from_regex(r"[!-~]{1,40}", fullmatch=True),
                 st.sampled_from(["", " ", "k" * 300, '"quoted"']))


def check_envelope(status: int, raw: bytes, what: str) -> dict[str, Any]:
    """The one answer shape (DESIGN.md §7), whatever was sent."""
    reply = orjson.loads(raw)
    assert isinstance(reply, dict), what
    assert set(reply) == {"ret", "errcode", "errmsg", "data"}, what
    assert isinstance(reply["ret"], bool), what
    assert isinstance(reply["errcode"], int), what
    assert isinstance(reply["errmsg"], str), what
    if status >= 400:
        assert reply["ret"] is False, what
        assert reply["errcode"] != 0, what
    assert status != 500, what
    assert reply["errcode"] != 5000, what
    return reply


def routes_of(app: Any) -> list[Route]:
    found: dict[str, Route] = {route.path: route for route in app.routes.all
                               if not route.public}
    return [found[path] for path in sorted(found)]


@pytest.fixture
async def messages_client(db: Database) -> AsyncIterator[ApiClient]:
    async with client_for(message_app(make_config(), RecordingSink(), db)) as client:
        yield client


@FUZZ
@given(data=st.data())
async def test_message_routes_never_answer_5xx(messages_client: ApiClient,
                                               data: st.DataObject) -> None:
    route = data.draw(st.sampled_from(routes_of(messages_client.pipeline)), label="route")
    body = data.draw(bodies(HOSTS), label="body")
    key = data.draw(KEYS, label="Idempotency-Key")
    headers = {"Idempotency-Key": key} if key is not None else {}
    response = await messages_client.post(f"/qtalk/{route.path}", data=body, headers=headers)
    what = f"{route.path} {body[:300]!r} -> {response.status}"
    assert response.status < 500, what
    check_envelope(response.status, await response.read(), what)


@pytest_asyncio.fixture(scope="module")
async def whole_daemon(tmp_path_factory: pytest.TempPathFactory
                       ) -> AsyncIterator[tuple[Daemon, str]]:
    """app.py's composition, linked to the scripted server, on a loopback port."""
    server = FakeComponentServer(secret="s3cret-for-tests")
    port = await server.start()
    (http_port,) = free_ports(1)
    config = make_config(
        xmpp={"server": "127.0.0.1", "port": port, "iq_timeout": 0.3},
        http={"port": http_port},
        store={"path": str(tmp_path_factory.mktemp("fuzz") / "store.db")},
        limits={"max_request_bytes": 1 << 20, "max_stanza_bytes": 64 << 10})
    daemon = await Daemon.open(config)
    await daemon.start()
    await daemon.link.up.wait()
    yield daemon, f"http://127.0.0.1:{http_port}/qtalk/"
    await daemon.stop()
    await server.close()


@FUZZ
@given(data=st.data())
async def test_every_daemon_route_answers_an_envelope(
        whole_daemon: tuple[Daemon, str], http_session: aiohttp.ClientSession,
        data: st.DataObject) -> None:
    daemon, url = whole_daemon
    route = data.draw(st.sampled_from(routes_of(daemon.pipeline)), label="route")
    # A HEAD answer has no body to check.
    method = data.draw(st.sampled_from(sorted(route.methods - {"HEAD"})), label="method")
    body = data.draw(bodies(HOSTS), label="body")
    async with http_session.request(method, url + route.path, data=body) as response:
        what = f"{method} {route.path} {body[:300]!r} -> {response.status}"
        check_envelope(response.status, await response.read(), what)
    assert daemon.link.reconnects == 0  # nothing sent ever cost the link
