"""Integrator credentials on a real daemon linked to a real server.

A daemon with [[integrators]], on a server of this module's own (`private_server`):
no token, a wrong token, an endpoint or a user domain outside the token's scope, a source
address outside its list and a rate above its own are each refused, the link stays up, and
the good token's message arrives at a real client. All traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from devenv.servers import XmppServer
from tests.integration.conftest import (
    ClientFactory,
    RunningDaemon,
    UserFactory,
    daemon_config,
    private_make_user,
    private_server,
    running_daemon,
)
from tests.unit.http_apps import bearer, integrator

GOOD, NARROW, FAR, SLOW = "good-token-7f3a", "narrow-token-19c2", "far-token-5d11", "slow-tok-8e"


# This module's own server and users (see private_server); client_factory follows them.
xmpp_server = private_server
make_user = private_make_user


@pytest_asyncio.fixture(scope="module")
async def guarded(xmpp_server: XmppServer, tmp_path_factory: pytest.TempPathFactory
                  ) -> AsyncIterator[RunningDaemon]:
    tables = [
        integrator("hr", GOOD, endpoints=["send_message", "send_thirdmessage"],
                   hosts=[xmpp_server.host], allow_ips=["127.0.0.1/32"]),
        integrator("other-domain", NARROW, hosts=["elsewhere.test.org"]),
        integrator("remote-office", FAR, allow_ips=["10.0.0.0/8"]),  # 127.0.0.1 is outside
        integrator("slow", SLOW, rate=1),
    ]
    config = daemon_config(xmpp_server, tmp_path_factory.mktemp("guarded") / "store.db",
                           integrators=tables)
    async with running_daemon(config) as handle:
        yield handle


async def call(http: aiohttp.ClientSession, url: str, body: Any,
               headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    async with http.post(url, data=orjson.dumps(body), headers=headers) as response:
        return response.status, orjson.loads(await response.read()), response.headers


def chat(sender: str, to: str, text: str) -> dict[str, Any]:
    return {"From": sender, "To": [{"User": to}], "Body": text}


REFUSALS: dict[str, tuple[str, dict[str, str] | None, int, int]] = {
    "no token": ("send_message", None, 401, 1401),
    "wrong token": ("send_message", bearer(GOOD + "0"), 401, 1401),
    "endpoint outside its list": ("send_notify", bearer(GOOD), 403, 1403),
    "domain outside its list": ("send_message", bearer(NARROW), 403, 1403),
    "address outside its list": ("send_message", bearer(FAR), 403, 1403),
}


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_refused_then_the_good_token_still_works(
        case: str, guarded: RunningDaemon, http_session: aiohttp.ClientSession,
        make_user: UserFactory, client_factory: ClientFactory) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    bob_client = await client_factory(*bob)
    path, headers, status, errcode = REFUSALS[case]
    body: Any = chat(alice.user, bob.user, "must not arrive")
    if path == "send_notify":
        body = {"from": alice.jid, "to": bob.jid, "category": "1", "data": ""}
    reconnects = guarded.daemon.link.reconnects
    got, reply, answer_headers = await call(http_session, guarded.url + path, body, headers)
    assert (got, reply["ret"], reply["errcode"]) == (status, False, errcode), reply
    if status == 401:
        assert answer_headers["WWW-Authenticate"].startswith("Bearer")
    got, reply, _ = await call(http_session, guarded.url + "send_message",
                               chat(alice.user, bob.user, "good token"), bearer(GOOD))
    assert (got, reply["ret"]) == (200, True), reply
    message_id = reply["data"]["items"][0]["id"]
    arrived = await bob_client.wait_message(lambda m: m.get("id") == message_id)
    assert arrived.findtext("{jabber:client}body") == "good token"
    assert bob_client.messages_but_probes() == []  # nothing of the refused call
    assert guarded.daemon.link.reconnects == reconnects


async def test_over_its_rate_is_429_then_allowed_again(
        guarded: RunningDaemon, http_session: aiohttp.ClientSession,
        make_user: UserFactory) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    answers = [await call(http_session, guarded.url + "send_message",
                          chat(alice.user, bob.user, f"n{n}"), bearer(SLOW)) for n in range(3)]
    statuses = [status for status, _, _ in answers]
    assert statuses[0] == 200
    assert 429 in statuses
    status, reply, headers = next(a for a in answers if a[0] == 429)
    assert reply["errcode"] == 1429
    wait = int(headers["Retry-After"])
    assert 1 <= wait <= 2
    await asyncio.sleep(wait)
    status, _, _ = await call(http_session, guarded.url + "send_message",
                              chat(alice.user, bob.user, "later"), bearer(SLOW))
    assert status == 200


async def test_probes_need_no_token(guarded: RunningDaemon,
                                    http_session: aiohttp.ClientSession) -> None:
    base = guarded.url.removesuffix("/qtalk/")
    for probe in ("/healthz", "/readyz"):
        async with http_session.get(base + probe) as response:
            assert response.status == 200, probe
