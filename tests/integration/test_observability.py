"""Health, readiness and metrics of a daemon linked to a real server."""

from __future__ import annotations

import aiohttp

from tests.integration.conftest import Api, RunningDaemon, UserFactory


async def get(daemon: RunningDaemon, path: str) -> tuple[int, str]:
    base = daemon.url.removesuffix("/qtalk/")
    async with aiohttp.ClientSession() as session, session.get(base + path) as response:
        return response.status, await response.text()


async def test_health_and_readiness(daemon: RunningDaemon) -> None:
    await daemon.ready()
    assert (await get(daemon, "/healthz"))[0] == 200
    status, body = await get(daemon, "/readyz")
    assert status == 200
    assert '"link":true' in body
    assert '"store":true' in body


async def test_metrics_count_requests_and_show_the_link(
        daemon: RunningDaemon, api: Api, make_user: UserFactory) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    status, _ = await api("send_thirdmessage", {
        "from": alice.jid, "to": bob.jid, "message": "<message><body>m</body></message>"})
    assert status == 200
    await api("send_thirdmessage", {"from": alice.jid})
    status, text = await get(daemon, "/metrics")
    assert status == 200
    lines = text.splitlines()
    assert "qtalk_link_up 1.0" in lines
    assert any(line.startswith('qtalk_http_requests_total{endpoint="/qtalk/send_thirdmessage",'
                               'status="200"}') for line in lines)
    assert any('status="400"' in line for line in lines)
    assert any(line.startswith("qtalk_http_request_duration_seconds_bucket") for line in lines)
    assert any(line.startswith("qtalk_outbox_depth ") for line in lines)
    assert any(line.startswith("qtalk_store_bytes ") for line in lines)
    assert any(line.startswith("qtalk_xmpp_iq_duration_seconds_count") for line in lines)
