"""add_host against a real server: a domain the server serves but the daemon's config did not
list is refused, then served at once by every endpoint after the call."""

from __future__ import annotations

from component.store.hosts import HostStore
from devenv.servers import XmppServer
from tests.integration.adhoc_client import command_of, error_condition, field_values, run
from tests.integration.conftest import (
    SECOND_HOST,
    Api,
    ClientFactory,
    RunningDaemon,
    UserFactory,
)


async def test_add_host_then_a_message_to_that_domain_is_delivered(
        api: Api, make_user: UserFactory, client_factory: ClientFactory,
        xmpp_server: XmppServer, daemon: RunningDaemon) -> None:
    assert SECOND_HOST in xmpp_server.hosts
    assert not daemon.daemon.hosts.is_served(SECOND_HOST), "added earlier in this session?"
    carol, dave = make_user("carol", SECOND_HOST), make_user("dave", SECOND_HOST)
    dave_client = await client_factory(*dave)
    carol_client = await client_factory(*carol)
    message = {"from": carol.jid, "to": dave.jid,
               "message": "<message type='chat' id='second-1'><body>hi</body></message>"}

    status, reply = await api("send_thirdmessage", message)
    assert (status, reply["errcode"]) == (400, 1004)
    status, reply = await api("get_user_nick", {"ID": dave.user, "Domain": SECOND_HOST})
    assert (status, reply["errcode"]) == (400, 1004)
    refused = await run(carol_client, xmpp_server.component_domain, "get-web-key")
    assert error_condition(refused) == "forbidden"

    status, reply = await api("add_host", {"host": SECOND_HOST.upper()})
    assert (status, reply) == (200, {"ret": True, "errcode": 0, "errmsg": "success",
                                     "data": {"host": SECOND_HOST, "added": True}})

    status, reply = await api("send_thirdmessage", message)
    assert (status, reply["data"]["status"]) == (200, "accepted")
    got = await dave_client.wait_message(lambda m: m.get("id") == "second-1")
    assert got.findtext("{jabber:client}body") == "hi"
    status, reply = await api("get_user_nick", {"ID": dave.user, "Domain": SECOND_HOST})
    assert (status, reply["data"]["Nick"]) == (200, dave.user)
    minted = command_of(await run(carol_client, xmpp_server.component_domain, "get-web-key"))
    assert field_values(minted)["user"] == [carol.jid]

    status, reply = await api("add_host", {"host": SECOND_HOST})
    assert (status, reply["errmsg"], reply["data"]["added"]) == (200, "already served", False)
    # Kept in the store: a restarted daemon serves it from the start.
    assert SECOND_HOST in await HostStore(daemon.daemon.db).all()


async def test_add_host_refuses_a_malformed_domain(api: Api) -> None:
    for bad in ("not a domain", "a..b", "", "-x.example"):
        status, reply = await api("add_host", {"host": bad})
        assert (status, reply["ret"], reply["errcode"]) == (400, False, 1002)
        assert reply["errmsg"].startswith("host:")
