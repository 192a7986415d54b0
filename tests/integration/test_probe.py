"""What a black-box probe of port 10050 found (issue 12), against the daemon as a process.

The daemon runs as `python -m component` beside a real server, with one integrator and its
log written to a file, as in production: a request that hangs the daemon's loop must fail
its test (the client's deadline) instead of hanging pytest with it, and the log is read as
an operator would read it. The module has a server of its own (`private_server`), since its
daemon is a second one beside the session's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import orjson
import pytest
import pytest_asyncio

from devenv.demo import config_toml
from devenv.proc import free_ports
from devenv.servers import XmppServer
from tests.integration.conftest import (
    ClientFactory,
    UserFactory,
    private_make_user,
    private_server,
)
from tests.integration.test_faults import daemon_process
from tests.integration.xmpp_client import tag

xmpp_server = private_server
make_user = private_make_user

TOKEN = "probe-" + secrets.token_hex(16)
DEADLINE = aiohttp.ClientTimeout(total=10)  # a hung loop fails the test, not pytest
FAILURE_BURST = 20  # component/http/auth.py; README says 20


class Probed(NamedTuple):
    """The daemon process: its base URL, port and log file."""

    base: str
    port: int
    log: Path
    json: bool

    def log_lines(self) -> list[str]:
        return self.log.read_text("utf-8", "replace").split("\n")


@pytest.fixture(scope="module")
def probed(request: pytest.FixtureRequest, xmpp_server: XmppServer,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probed]:
    """The daemon process; `json` (indirect parameter) picks its log format."""
    json = bool(getattr(request, "param", False))
    workdir = tmp_path_factory.mktemp("probed")
    (port,) = free_ports(1)
    config = workdir / "config.toml"
    config.write_text(config_toml(
        xmpp_server, http_port=port, store=workdir / "store.db",
        xmpp=["reconnect_max_delay = 1"],
        extra=["[log]", f"json = {str(json).lower()}", "", "[[integrators]]",
               'name = "probe"', f'token_sha256 = "{hashlib.sha256(TOKEN.encode()).hexdigest()}"',
               'endpoints = ["*"]', 'hosts = ["*"]']))
    log = workdir / "daemon.log"
    with daemon_process(config, log):
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/readyz")
        yield Probed(base, port, log, json)


def wait_ready(url: str, timeout: float = 30) -> None:
    """Poll (a sync fixture: no event loop runs here) until the link is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, urllib.error.URLError), \
                urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 (http: a loopback URL)
            if answer.status == 200:
                return
        time.sleep(0.05)
    raise TimeoutError("the daemon did not become ready")


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=DEADLINE) as client:
        yield client


async def call(session: aiohttp.ClientSession, probed: Probed, path: str, body: Any = None,
               *, token: str | None = TOKEN, method: str = "POST",
               params: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with session.request(method, f"{probed.base}/qtalk/{path}", params=params,
                               data=orjson.dumps(body), headers=headers) as response:
        return response.status, orjson.loads(await response.read()), response.headers


async def raw_request(probed: Probed, request: bytes) -> bytes:
    """One request on its own connection, as sent; the answer's head."""
    reader, writer = await asyncio.open_connection("127.0.0.1", probed.port)
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE.total)
    finally:
        writer.close()


async def still_answers(session: aiohttp.ClientSession, probed: Probed,
                        make_user: UserFactory, client_factory: ClientFactory) -> None:
    """A good message is accepted and arrives at a real client."""
    alice, bob = make_user("alice"), make_user("bob")
    bob_client = await client_factory(*bob)
    status, reply, _ = await call(session, probed, "send_thirdmessage", {
        "from": alice.jid, "to": bob.jid,
        "message": "<message type='chat'><body>still here</body></message>"})
    assert status == 200, reply
    got = await bob_client.wait_message(lambda m: m.get("id") == reply["data"]["id"])
    assert got.findtext(tag("body")) == "still here"


def declarations(url: str) -> list[str]:
    body = "<message><body>z</body></message>"
    return [f"<!DOCTYPE m [<!ENTITY % p SYSTEM '{url}'> %p;]>{body}",
            f'<!DOCTYPE m [<!ENTITY % p SYSTEM "{url}"> %p;]>{body}',
            f"\ufeff <!doctype m [<!ENTITY % p SYSTEM '{url}'> %p;]>{body}",
            f"<?xml version='1.0' encoding='UTF-16'?><!DOCTYPE m SYSTEM '{url}'>{body}",
            f"<?x <![CDATA[ ?><!DOCTYPE m SYSTEM '{url}'><message><body>]]></body></message>",
            f"<!DOCTYPE m [<!ENTITY e SYSTEM '{url}'>]><message><body>&e;</body></message>"]


# -- 1 and 2: the caller's XML never makes the parser read anything; one answer ------------

@pytest.mark.parametrize("path", ["send_thirdmessage", "send_xml"])
async def test_a_doctype_is_refused_at_once_and_the_daemon_answers_on(
        path: str, probed: Probed, session: aiohttp.ClientSession, make_user: UserFactory,
        client_factory: ClientFactory, xmpp_server: XmppServer) -> None:
    """file:///dev/zero in a parameter entity hung the loop for ever (issue 12, finding 1);
    /etc/passwd, a missing file and a directory each got another message (finding 2)."""
    host = xmpp_server.host
    answers = set()
    for url in ("file:///dev/zero", "file:///etc/passwd", "file:///nonexistent-qtalk",
                "file:///etc", "http://127.0.0.1:9/evil.dtd"):
        for xml in declarations(url):
            status, reply, _ = await call(session, probed, path, {
                "from": f"alice@{host}", "to": f"bob@{host}", "message": xml})
            answers.add((status, reply["errcode"], reply["errmsg"]))
    assert len(answers) == 1, answers
    ((status, errcode, _),) = answers
    assert (status, errcode) == (400, 1003)
    await still_answers(session, probed, make_user, client_factory)


# -- 3: one request, at most one log line --------------------------------------------------

FORGERIES = [
    b"GET /qtalk/x%0AINFO%20component.audit:%20request_id=FORGED1 HTTP/1.1\r\n",
    b"GET /qtalk/y%0D%0AINFO%20component.audit:%20request_id=FORGED1 HTTP/1.1\r\n",
    b"POST /qtalk/z%E2%80%A8INFO%20component.audit:%20request_id=FORGED1 HTTP/1.1\r\n",
]


@pytest.mark.parametrize("probed", [False, True], ids=["plain", "json"], indirect=True)
async def test_no_request_forges_a_log_line(probed: Probed) -> None:
    for request_line in FORGERIES:
        for token in (b"", f"Authorization: Bearer {TOKEN}\r\n".encode(),
                      b"Authorization: Bearer wrong\r\n"):
            answer = await raw_request(probed, request_line + b"Host: x\r\nContent-Length: 0\r\n"
                                       + token + b"Connection: close\r\n\r\n")
            assert answer.split(b" ")[1] in (b"401", b"404"), answer
    await asyncio.sleep(0.2)  # the lines are flushed as written; the process is another
    lines = probed.log_lines()
    assert any("FORGED1" in line for line in lines)  # the paths were logged, escaped
    for line in lines:
        assert line.splitlines() in ([line], []), line
        assert not line.startswith("INFO component.audit: request_id=FORGED1"), line
        if probed.json and line:
            assert not orjson.loads(line)["msg"].startswith("request_id=FORGED1"), line


# -- 4: numbers in ASCII digits, else a 400 naming the field -------------------------------

async def test_unicode_digits_are_a_400_naming_the_field(
        probed: Probed, session: aiohttp.ClientSession, make_user: UserFactory,
        xmpp_server: XmppServer) -> None:
    owner = make_user("owner")
    room = "probe" + secrets.token_hex(4)
    status, reply, _ = await call(session, probed, "create_muc",
                                  {"muc_id": room, "muc_owner": owner.user})
    assert status == 200, reply
    for digits in ("\u00b2", "\u2460", "\u0661\u0662", "\uff15\uff10", "9" * 5000):
        status, reply, _ = await call(session, probed, "management/change_muc_opts", {
            "muc": room, "domain": xmpp_server.muc_domain, "max_users": digits})
        assert (status, reply["errcode"]) == (400, 1002), reply
        assert reply["errmsg"].startswith("max_users: "), reply
    host = xmpp_server.host
    for wait in ("\u0661", "\u00b2", "1_0", "nan"):
        status, reply, _ = await call(session, probed, "send_thirdmessage", {
            "from": f"alice@{host}", "to": f"bob@{host}",
            "message": "<message><body>x</body></message>"}, params={"wait": wait})
        assert (status, reply["errcode"]) == (400, 1002), reply
        assert reply["errmsg"].startswith("wait: "), reply


# -- 5: failed tokens throttled per address; right ones never ------------------------------

async def test_failed_tokens_are_throttled_and_right_ones_are_not(
        probed: Probed, make_user: UserFactory) -> None:
    """From an address of its own (127.0.0.3), so other tests' failures do not count."""
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.3", 0))
    async with aiohttp.ClientSession(connector=connector, timeout=DEADLINE) as own:
        body = {"From": "alice", "To": [{"User": make_user("bob").user}], "Body": "x"}
        statuses = [(await call(own, probed, "send_message", body, token="wrong"))[0]
                    for _ in range(FAILURE_BURST + 5)]
        assert statuses == [401] * FAILURE_BURST + [429] * 5
        for path, method in (("send_message", "POST"), ("muc_users", "GET")):  # both lanes
            status, reply, headers = await call(own, probed, path, body, token=None,
                                                method=method)
            assert (status, reply["errcode"]) == (429, 1429), reply
            assert int(headers["Retry-After"]) >= 1
        status, reply, _ = await call(own, probed, "send_message", body)
        assert status == 200, reply
    status, _, _ = await call_from_elsewhere(probed)
    assert status == 401


async def call_from_elsewhere(probed: Probed) -> tuple[int, Any, Any]:
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.4", 0))
    async with aiohttp.ClientSession(connector=connector, timeout=DEADLINE) as other:
        return await call(other, probed, "send_message", {}, token="wrong")


# -- 6: a malformed request is a WARNING with its reason, never a traceback ----------------

AUTHORIZATION = f"Authorization: Bearer {TOKEN}\r\n".encode()  # framing judged, not tokens
POST = b"POST /qtalk/send_message HTTP/1.1\r\nHost: x\r\n" + AUTHORIZATION
MALFORMED = [
    POST + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    POST + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    POST + b"X-A: 1\r\n folded\r\nContent-Length: 2\r\n\r\n{}",
    b"GET /qtalk/\x01 HTTP/1.1\r\nHost: x\r\n" + AUTHORIZATION + b"\r\n",
]


async def test_malformed_requests_log_no_traceback(
        probed: Probed, session: aiohttp.ClientSession, make_user: UserFactory,
        client_factory: ClientFactory) -> None:
    before = len(probed.log_lines())
    for request in MALFORMED:
        answer = await raw_request(probed, request)
        assert answer.split(b" ")[1] == b"400", (request, answer)
    await still_answers(session, probed, make_user, client_factory)
    logged = probed.log_lines()[before - 1:]
    assert not [line for line in logged if "Traceback" in line or line.startswith("ERROR")]
    assert any(line.startswith(("INFO", "WARNING")) and "malformed" in line
               for line in logged), logged


def test_the_log_has_no_error_at_all(probed: Probed) -> None:
    """Last: nothing the probe sent is one of the daemon's own faults."""
    faults = [line for line in probed.log_lines()
              if line.startswith("ERROR") or "Traceback" in line]
    assert faults == []

