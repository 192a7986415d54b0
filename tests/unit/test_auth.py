"""Integrator credentials: tokens, IP lists, endpoint and host scopes, rates (RFC 6750)."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from component.config import Integrator
from component.errors import RateLimited, Unauthorized
from component.http.auth import FAILURE_BURST, FailureThrottle, Gate, TokenBucket
from tests.unit.fakes import HOST, RecordingSink
from tests.unit.http_apps import ApiClient, bearer, client_for, integrator, make_config, message_app

HR, OPS = "hr-token-0123456789", "ops-token-9876543210"


def chat(sender: str = "alice", host: str = HOST) -> dict[str, Any]:
    return {"From": sender, "To": [{"User": "bob"}], "Body": "hi", "Host": host}


def third(sender: str) -> dict[str, str]:
    return {"from": sender, "to": f"bob@{HOST}", "message": "<message><body>x</body></message>"}


async def open_client(*tables: dict[str, Any], **http: Any
                      ) -> tuple[ApiClient, RecordingSink]:
    sink = RecordingSink()
    client = client_for(message_app(make_config(integrators=list(tables), http=http), sink))
    await client.start()
    return client, sink


@pytest.fixture
async def hr() -> AsyncIterator[tuple[ApiClient, RecordingSink]]:
    """`hr` may send messages for qtalk.test.org only; `ops` may do anything, from 10/8."""
    client, sink = await open_client(
        integrator("hr", HR, endpoints=["send_message", "send_thirdmessage"], hosts=[HOST]),
        integrator("ops", OPS, allow_ips=["10.0.0.0/8"]))
    yield client, sink
    await client.close()


async def post(client: ApiClient, path: str, body: Any,
               headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    response = await client.post(f"/qtalk/{path}", data=orjson.dumps(body), headers=headers)
    return response.status, orjson.loads(await response.read()), response.headers


async def test_no_token_is_401_with_a_bearer_challenge(hr: Any) -> None:
    client, sink = hr
    status, reply, headers = await post(client, "send_message", chat())
    assert (status, reply["ret"], reply["errcode"]) == (401, False, 1401)
    assert headers["WWW-Authenticate"] == 'Bearer realm="qtalk"'
    status, _, _ = await post(client, "send_message", chat(), {"Authorization": f"Basic {HR}"})
    assert status == 401
    assert sink.sent == []


async def test_wrong_token_is_401_invalid_token(hr: Any) -> None:
    client, sink = hr
    status, reply, headers = await post(client, "send_message", chat(), bearer(HR + "x"))
    assert (status, reply["errcode"]) == (401, 1401)
    assert headers["WWW-Authenticate"] == 'Bearer realm="qtalk", error="invalid_token"'
    assert sink.sent == []


async def test_good_token_sends(hr: Any) -> None:
    client, sink = hr
    status, reply, _ = await post(client, "send_message", chat(), bearer(HR))
    assert (status, reply["ret"]) == (200, True)
    assert len(sink.sent) == 2  # message and carbon


async def test_endpoint_outside_the_scope_is_403(hr: Any) -> None:
    client, sink = hr
    status, reply, _ = await post(client, "send_notify", {
        "from": f"alice@{HOST}", "to": f"bob@{HOST}", "category": "1"}, bearer(HR))
    assert (status, reply["errcode"]) == (403, 1403)
    assert "send_notify" in reply["errmsg"]
    assert sink.sent == []


async def test_host_outside_the_scope_is_403(hr: Any) -> None:
    client, sink = hr
    status, reply, _ = await post(client, "send_message", chat(host="other.test.org"),
                                  bearer(HR))
    assert (status, reply["errcode"]) == (403, 1403)
    assert "other.test.org" in reply["errmsg"]
    status, _, _ = await post(client, "send_message", chat("alice@other.test.org"), bearer(HR))
    assert status == 403
    assert sink.sent == []


async def test_host_scope_applies_per_item_of_a_batch(hr: Any) -> None:
    client, sink = hr
    status, reply, _ = await post(client, "send_thirdmessage", [
        third(f"alice@{HOST}"), third("alice@other.test.org")], bearer(HR))
    assert status == 207
    assert [i["ok"] for i in reply["data"]["items"]] == [True, False]
    assert reply["data"]["items"][1]["errcode"] == 1403
    status, reply, _ = await post(client, "send_thirdmessage", third("carol@other.test.org"),
                                  bearer(HR))
    assert (status, reply["errcode"]) == (403, 1403)
    assert len(sink.sent) == 2  # the allowed item's message and carbon


async def test_ip_outside_the_list_is_403(hr: Any) -> None:
    client, sink = hr
    status, reply, _ = await post(client, "send_message", chat(), bearer(OPS))
    assert (status, reply["errcode"]) == (403, 1403)
    assert "127.0.0.1" in reply["errmsg"]
    assert sink.sent == []


async def test_over_the_rate_is_429_with_retry_after() -> None:
    client, sink = await open_client(integrator("slow", HR, rate=2))
    async with client:
        answers = [await post(client, "send_message", chat(), bearer(HR)) for _ in range(3)]
    assert [status for status, _, _ in answers] == [200, 200, 429]
    _, reply, headers = answers[2]
    assert reply["errcode"] == 1429
    assert int(headers["Retry-After"]) >= 1
    assert len(sink.sent) == 4


async def test_probes_need_no_token_and_unknown_paths_do(hr: Any) -> None:
    client, _ = hr
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    assert (await client.post("/qtalk/no_such_thing")).status == 401
    assert (await client.post("/qtalk/no_such_thing", headers=bearer(HR))).status == 404


async def test_always_200_switch_keeps_the_refusal_in_the_envelope() -> None:
    client, _ = await open_client(integrator("hr", HR), always_200=True)
    async with client:
        status, reply, headers = await post(client, "send_message", chat())
    assert (status, reply["ret"], reply["errcode"]) == (200, False, 1401)
    assert "WWW-Authenticate" in headers


def test_every_token_hash_is_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    """No early exit: the work done does not depend on which integrator (if any) matches."""
    tables = [integrator(f"i{n}", f"token-{n}") for n in range(5)]
    gate = Gate(make_config(integrators=tables).integrators)
    calls: list[int] = []
    real = hmac.compare_digest

    def counting(a: str, b: str) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    for token, name in (("token-0", "i0"), ("token-4", "i4")):
        calls.clear()
        assert gate.identify(f"Bearer {token}", "127.0.0.1").name == name
        assert len(calls) == 5
    calls.clear()
    with pytest.raises(Unauthorized):
        gate.identify("Bearer nobody", "127.0.0.1")
    assert len(calls) == 5


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Token abc", "bearer"])
def test_malformed_authorization_is_401(header: str | None) -> None:
    gate = Gate(make_config(integrators=[integrator("a", "t")]).integrators)
    with pytest.raises(Unauthorized, match="missing"):
        gate.identify(header, "127.0.0.1")


def test_scheme_is_case_insensitive_and_ipv4_mapped_peers_match() -> None:
    config = make_config(integrators=[integrator("a", "t", allow_ips=["127.0.0.0/8"])])
    gate = Gate(config.integrators)
    found = gate.identify("bEaReR t", "127.0.0.1")
    assert isinstance(found, Integrator)
    gate.admit(found, "::ffff:127.0.0.1", "send_message")
    gate.admit(found, "127.0.0.9", None)


def test_token_bucket_bursts_then_refills() -> None:
    now = [100.0]
    bucket = TokenBucket(4, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [0.0] * 4
    assert bucket.take() == pytest.approx(0.25)
    now[0] += 0.5
    assert [bucket.take() for _ in range(2)] == [0.0, 0.0]
    assert bucket.take() > 0
    slow = TokenBucket(0.5, clock=lambda: now[0])  # below 1/s: a burst of one
    assert slow.take() == 0.0
    assert slow.take() == pytest.approx(2.0)


def test_failed_tokens_are_throttled_per_address_and_right_ones_never() -> None:
    now = [100.0]
    gate = Gate(make_config(integrators=[integrator("a", "t")]).integrators,
                clock=lambda: now[0])
    for _ in range(FAILURE_BURST):
        with pytest.raises(Unauthorized):
            gate.identify("Bearer wrong", "192.0.2.1")
    for header in ("Bearer wrong", None):
        with pytest.raises(RateLimited) as throttled:
            gate.identify(header, "192.0.2.1")
        assert throttled.value.retry_after == 1
    assert gate.identify("Bearer t", "192.0.2.1").name == "a"  # never slowed
    with pytest.raises(Unauthorized):  # another address has its own burst
        gate.identify("Bearer wrong", "192.0.2.2")
    now[0] += 1.0  # one more failure a second
    with pytest.raises(Unauthorized):
        gate.identify("Bearer wrong", "192.0.2.1")
    with pytest.raises(RateLimited):
        gate.identify("Bearer wrong", "192.0.2.1")


def test_an_ipv6_host_is_throttled_as_its_64() -> None:
    throttle = FailureThrottle(lambda: 0.0)
    for n in range(FAILURE_BURST):
        assert throttle.failed(f"2001:db8::{n:x}") == 0.0
    assert throttle.failed("2001:db8::ffff:1") > 0
    assert throttle.failed("2001:db8:0:1::1") == 0.0


def test_the_table_of_failing_addresses_is_bounded() -> None:
    throttle = FailureThrottle(lambda: 0.0, max_addresses=8)
    for _ in range(FAILURE_BURST):
        throttle.failed("192.0.2.1")
    for n in range(100):
        throttle.failed(f"198.51.100.{n}")
    assert len(throttle._buckets) == 8
    assert throttle.failed("192.0.2.1") == 0.0  # forgotten: the oldest go first


async def test_failed_tokens_over_http_are_429_with_retry_after(hr: Any) -> None:
    client, _ = hr
    answers = [await post(client, "send_message", chat(), bearer("wrong"))
               for _ in range(FAILURE_BURST + 1)]
    assert [status for status, _, _ in answers] == [401] * FAILURE_BURST + [429]
    _, reply, headers = answers[-1]
    assert reply["errcode"] == 1429
    assert int(headers["Retry-After"]) >= 1
    status, _, _ = await post(client, "send_message", chat(), bearer(HR))
    assert status == 200


def test_a_reloaded_gate_keeps_rates_and_the_failure_throttle() -> None:
    """A reload grants no fresh burst to a kept rate and forgives no guessing; a new or
    changed rate starts full."""
    now = [100.0]
    old = Gate(make_config(integrators=[integrator("a", "ta", rate=2),
                                        integrator("b", "tb", rate=2)]).integrators,
               clock=lambda: now[0])
    a, b = (old.identify(f"Bearer {t}", "127.0.0.1") for t in ("ta", "tb"))
    for who in (a, b, a, b):
        old.admit(who, "127.0.0.1", "send_message")
    for _ in range(FAILURE_BURST):
        with pytest.raises(Unauthorized):
            old.identify("Bearer wrong", "192.0.2.1")
    gate = old.reconfigured(make_config(integrators=[
        integrator("a", "ta", rate=2), integrator("b", "tb", rate=3)]).integrators)
    with pytest.raises(RateLimited):
        gate.admit(gate.identify("Bearer ta", "127.0.0.1"), "127.0.0.1", "send_message")
    gate.admit(gate.identify("Bearer tb", "127.0.0.1"), "127.0.0.1", "send_message")
    with pytest.raises(RateLimited):
        gate.identify("Bearer wrong", "192.0.2.1")
