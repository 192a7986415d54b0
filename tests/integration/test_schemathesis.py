"""Schemathesis against the live daemon, from the /openapi.json it serves.

Every operation gets bounded examples (the schema's, the coverage phase's boundary and
invalid values, then random ones); no answer may be a 5xx, a status the document does not
list, or a body or content type that violates it. Afterwards a good message is still routed
and arrives, and the link never dropped.

The module has a server and a daemon of its own (`private_server`): what the run changes
(hosts added, rooms made and destroyed) stays here. The CLI runs in a subprocess, so the
daemon keeps serving on this process's event loop meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from devenv.servers import XmppServer
from tests.integration.conftest import (
    Api,
    ClientFactory,
    RunningDaemon,
    UserFactory,
    private_daemon,
    private_make_user,
    private_server,
)
from tests.integration.xmpp_client import tag

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance",
          # a method the document does not list is 405 with an Allow header naming those it does
          "unsupported_method", "allow_header_conformance")
MAX_EXAMPLES = 25  # per operation
RUN_TIMEOUT = 240.0
# Run apart, after the others: a host add_host adds is one ejabberd does not serve (its users
# would then get honest 502s), and destroy_muc would take the examples' room away.
LAST = ("add_host_post", "destroy_muc_post")
# One worker: with two, schemathesis' coverage phase calls ast.parse from both threads, which
# CPython 3.11 can fail with "SystemError: AST constructor recursion depth mismatch"
# (python/cpython gh-106905). Full Unicode strings: Jid.parse applies nodeprep/resourceprep
# as ejabberd does, so a name the server would refuse is a 400 here, never a 502.
GENERATION = ("--workers", "1")

# The one designed 5xx a healthy server gives: rooms on Prosody have no max_users (501).
CONFIG = """
[[operations]]
include-operation-id = "management_change_muc_opts_post"
checks.not_a_server_error.expected-statuses = ["1XX", "2XX", "3XX", "4XX", "501"]
"""

xmpp_server = private_server
make_user = private_make_user
daemon = private_daemon


async def test_schemathesis_finds_no_server_error_and_no_violation(
        daemon: RunningDaemon, xmpp_server: XmppServer, api: Api, tmp_path: Path) -> None:
    # What the document's examples name (openapi_examples.py), so that they succeed.
    for user in ("test1", "test2", "test3"):
        xmpp_server.register(user, f"pw-{user}", exist_ok=True)
    for room in ("team", "old"):
        status, reply = await api("create_muc", {"muc_id": room, "muc_owner": "test1"})
        assert status == 200, reply
    reconnects = daemon.daemon.link.reconnects
    await run_schemathesis(daemon, tmp_path, *(f"--exclude-operation-id={op}" for op in LAST))
    await run_schemathesis(daemon, tmp_path, *(f"--include-operation-id={op}" for op in LAST))
    assert daemon.daemon.link.reconnects == reconnects


async def run_schemathesis(daemon: RunningDaemon, cwd: Path, *selection: str) -> None:
    if not SCHEMATHESIS.exists():
        pytest.fail("schemathesis is not installed: pip install -e '.[test]'", pytrace=False)
    (cwd / "schemathesis.toml").write_text(CONFIG, encoding="utf-8")  # read from the cwd
    root = daemon.url.removesuffix("/qtalk/")
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS), "run", f"{root}/openapi.json", "--url", root, *selection,
        "--checks", ",".join(CHECKS), "--max-examples", str(MAX_EXAMPLES),
        "--phases", "examples,coverage,fuzzing", "--no-color", "--generation-database",
        "none", "--request-timeout", "20", *GENERATION,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=cwd,
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "COLUMNS": "120"})
    try:
        output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    report = output.decode("utf-8", "replace")
    assert process.returncode == 0, report[-30000:]


async def test_after_the_run_a_good_message_is_routed_and_arrives(
        api: Api, make_user: UserFactory, client_factory: ClientFactory,
        daemon: RunningDaemon) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    bob_client = await client_factory(*bob)
    status, reply = await api("send_message", {
        "From": alice.user, "To": [{"User": bob.user}], "Body": "after schemathesis"})
    assert (status, reply["data"]["status"]) == (200, "accepted"), reply
    message_id = reply["data"]["items"][0]["id"]
    got = await bob_client.wait_message(lambda m: m.get("id") == message_id)
    assert got.findtext(tag("body")) == "after schemathesis"
    assert daemon.daemon.link.reconnects == 0
