"""Recipients without an account (issue 17), on a real server with real receiving clients.

A daemon of this module's own (its known accounts are probed again after KNOWN_TTL, short
here, so that ejabberd's way of noticing a removed account can be watched): unknown users
are refused and nothing is sent to them, known users are served from memory, and a user
removed through the server after the daemon learned of it has the message lost to it counted
in /metrics and audited with its id.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from component.servers import profile_of
from devenv.servers import XmppServer
from tests.integration.conftest import (
    Api,
    ClientFactory,
    RunningDaemon,
    UserFactory,
    daemon_config,
    private_make_user,
    private_server,
    running_daemon,
)
from tests.integration.test_messages import has_id
from tests.integration.test_observability import get
from tests.integration.xmpp_client import XmppClient

KNOWN_TTL = 3.0
NO_SUCH_USER = 1012

xmpp_server = private_server
make_user = private_make_user


@pytest_asyncio.fixture(scope="module")
async def daemon(xmpp_server: XmppServer, tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[RunningDaemon]:
    config = daemon_config(xmpp_server, tmp_path_factory.mktemp("recipients") / "store.db",
                           delivery={"known_recipient_ttl": KNOWN_TTL})
    async with running_daemon(config) as handle:
        yield handle


async def metric(daemon: RunningDaemon, name: str) -> float:
    _, text = await get(daemon, "/metrics")
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found is not None, f"{name} not in /metrics"
    return float(found.group(1))


async def fence(api: Api, sender: str, client: XmppClient, user: str) -> None:
    """A message to `client`, received: whatever the server did with earlier ones is done."""
    status, reply = await api("send_message", {"From": sender, "To": [{"User": user}],
                                               "Body": "fence"})
    assert status == 200, reply
    await client.wait_message(has_id(reply["data"]["items"][0]["id"]))


async def test_unknown_users_are_refused_and_nothing_is_sent(
        api: Api, make_user: UserFactory, client_factory: ClientFactory,
        daemon: RunningDaemon, xmpp_server: XmppServer) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    bob_client = await client_factory(*bob)
    ghost = f"ghost-{secrets.token_hex(4)}"
    ghost_jid = f"{ghost}@{xmpp_server.host}"
    written = await metric(daemon, "qtalk_stanzas_sent_total")
    probes = await metric(daemon, "qtalk_account_probes_total")
    status, reply = await api("send_message", {"From": alice.user, "To": [{"User": ghost}],
                                                "Body": "anyone?"})
    assert (status, reply["ret"], reply["errcode"]) == (404, False, NO_SUCH_USER)
    assert ghost_jid in reply["errmsg"]
    status, reply = await api("send_thirdmessage", {
        "from": alice.jid, "to": ghost_jid, "message": "<message><body>hi</body></message>"})
    assert (status, reply["errcode"]) == (404, NO_SUCH_USER)
    # The probes of the ghost and of alice (the carbon's owner) were all the daemon wrote.
    assert await metric(daemon, "qtalk_account_probes_total") == probes + 2
    assert await metric(daemon, "qtalk_stanzas_sent_total") == written + 2

    bounced = await metric(daemon, "qtalk_messages_bounced_total")
    status, reply = await api("send_message", {
        "From": alice.user, "To": [{"User": ghost}, {"User": bob.user}], "Body": "half"})
    assert (status, reply["errcode"]) == (207, 1)
    refused, sent = reply["data"]["items"]
    assert (refused["ok"], refused["errcode"], sent["ok"]) == (False, NO_SUCH_USER, True)
    await bob_client.wait_message(has_id(sent["id"]))
    status, reply = await api("send_notify", {"from": alice.jid, "to": [bob.jid, ghost_jid],
                                              "category": "7", "data": "{}"})
    assert status == 207
    sent, refused = reply["data"]["items"]
    assert (sent["ok"], refused["errcode"]) == (True, NO_SUCH_USER)
    await bob_client.wait_message(has_id(sent["id"]))
    await fence(api, alice.user, bob_client, bob.user)
    assert await metric(daemon, "qtalk_messages_bounced_total") == bounced  # (Prosody's)
    assert await metric(daemon, "qtalk_recipients_refused_total") >= 4


async def test_known_users_are_answered_from_memory(
        api: Api, make_user: UserFactory, client_factory: ClientFactory,
        daemon: RunningDaemon, xmpp_server: XmppServer) -> None:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    bob_client = await client_factory(*bob)
    status, reply = await api("send_message", {"From": alice.user, "To": [{"User": bob.user}],
                                               "Body": "first"})
    assert (status, reply["data"]["status"]) == (200, "accepted")
    probes = await metric(daemon, "qtalk_account_probes_total")
    for text in ("second", "third"):
        status, reply = await api("send_message", {
            "From": alice.user, "To": [{"User": bob.user}, {"User": carol.user}], "Body": text})
        assert status == 200, reply
        await bob_client.wait_message(has_id(reply["data"]["items"][0]["id"]))
    # carol (offline) was asked about once; bob and alice (the carbon's owner) not again
    assert await metric(daemon, "qtalk_account_probes_total") == probes + 1
    # Prosody keeps its probe (a bodyless `normal` message) for an offline user: once.
    probe_kept = profile_of(xmpp_server.kind).probe_type == "normal"
    assert xmpp_server.offline_count(carol.user) == 2 + probe_kept


async def test_a_sender_without_an_account_sends_without_a_carbon(
        api: Api, make_user: UserFactory, client_factory: ClientFactory,
        daemon: RunningDaemon) -> None:
    bob = make_user("bob")
    bob_client = await client_factory(*bob)
    bounced = await metric(daemon, "qtalk_messages_bounced_total")
    status, reply = await api("send_message", {"From": f"hr-{secrets.token_hex(3)}",
                                               "To": [{"User": bob.user}], "Body": "notice"})
    assert status == 200, reply
    await bob_client.wait_message(has_id(reply["data"]["items"][0]["id"]))
    await fence(api, "hr", bob_client, bob.user)
    assert await metric(daemon, "qtalk_messages_bounced_total") == bounced  # no carbon bounced


async def test_a_user_removed_later_is_counted_and_audited_then_refused(
        api: Api, make_user: UserFactory, client_factory: ClientFactory,
        daemon: RunningDaemon, xmpp_server: XmppServer,
        caplog: pytest.LogCaptureFixture) -> None:
    alice, doomed = make_user("alice"), make_user("doomed")
    alice_client = await client_factory(*alice)
    message = {"From": alice.user, "To": [{"User": doomed.user}], "Body": "still there?"}
    status, reply = await api("send_message", message)
    assert status == 200, reply  # the daemon now knows the account
    xmpp_server.unregister(doomed.user)
    returns_bounces = profile_of(xmpp_server.kind).returns_bounces
    if not returns_bounces:
        await asyncio.sleep(KNOWN_TTL)  # ejabberd: the account is probed again after this
    bounced = await metric(daemon, "qtalk_messages_bounced_total")
    caplog.set_level(logging.INFO, logger="component.audit")
    status, reply = await api("send_message", message)
    assert (status, reply["data"]["status"]) == (200, "accepted")  # it knew the account
    lost_id = reply["data"]["items"][0]["id"]
    async with asyncio.timeout(10):
        while await metric(daemon, "qtalk_messages_bounced_total") < bounced + 1:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    lines = [r.getMessage() for r in caplog.records if r.name == "component.audit"
             and "event=message_bounced" in r.getMessage()]
    assert any(f"id={lost_id} " in line and f"to={doomed.jid} " in line for line in lines), \
        lines
    noticed_by = "bounce" if returns_bounces else "probe"
    assert any(f"noticed_by={noticed_by}" in line for line in lines)
    await fence(api, doomed.user, alice_client, alice.user)
    # Nor did the sender's client hear of it (ejabberd drops an error to a bare JID).
    assert [m for m in alice_client.messages() if m.get("type") == "error"] == []
    status, reply = await api("send_message", message)
    assert (status, reply["errcode"]) == (404, NO_SUCH_USER)
