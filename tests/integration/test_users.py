"""get_user_nick and auth_uk against a real server, with real clients."""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

import aiohttp
import pytest

from devenv.servers import XmppServer
from tests.integration.adhoc_client import command_of, field_values, run
from tests.integration.conftest import Api, ClientFactory, RunningDaemon, UserFactory

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


async def nick(api: Api, user: str, domain: str | None = None) -> tuple[int, Any]:
    body = {"ID": user} | ({"Domain": domain} if domain else {})
    return await api("get_user_nick", body)


async def test_nick_from_a_vcard_set_through_the_server(
        api: Api, make_user: UserFactory, xmpp_server: XmppServer) -> None:
    nicked, named = make_user("nicked"), make_user("named")
    xmpp_server.set_vcard(nicked.user, "NICKNAME", "Nicky 你好")
    xmpp_server.set_vcard(nicked.user, "FN", "Full Name")
    xmpp_server.set_vcard(named.user, "FN", "Only Full")
    assert await nick(api, nicked.user, xmpp_server.host) == (200, {
        "ret": True, "errcode": 0, "errmsg": "success",
        "data": {"Nick": "Nicky 你好", "Vcard": None}})
    status, reply = await nick(api, named.user)
    assert (status, reply["data"]) == (200, {"Nick": "Only Full", "Vcard": None})


async def test_photos_by_url_and_inline(api: Api, make_user: UserFactory,
                                        client_factory: ClientFactory,
                                        daemon: RunningDaemon) -> None:
    linked, inline = make_user("linked"), make_user("inline")
    client = await client_factory(*linked)
    await client.set_vcard("<vCard xmlns='vcard-temp'><NICKNAME>Linked</NICKNAME><PHOTO>"
                           "<EXTVAL>https://pics.example/l.png</EXTVAL></PHOTO></vCard>")
    client = await client_factory(*inline)
    encoded = base64.b64encode(PNG).decode()
    await client.set_vcard("<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE>"
                           f"<BINVAL>{encoded}</BINVAL></PHOTO></vCard>")
    status, reply = await nick(api, linked.user)
    assert (status, reply["data"]) == (200, {"Nick": "Linked",
                                             "Vcard": "https://pics.example/l.png"})
    status, reply = await nick(api, inline.user)
    assert reply["data"] == {"Nick": inline.user, "Vcard": f"/qtalk/avatar/{inline.jid}"}
    origin = daemon.url.removesuffix("/qtalk/")
    async with aiohttp.ClientSession() as session, \
            session.get(origin + reply["data"]["Vcard"]) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/png"
        assert await response.read() == PNG


async def test_a_photo_that_is_not_an_image_is_not_served(
        api: Api, make_user: UserFactory, client_factory: ClientFactory,
        daemon: RunningDaemon) -> None:
    html = make_user("htmlphoto")
    client = await client_factory(*html)
    page = base64.b64encode(b"<html><script>alert(1)</script></html>").decode()
    await client.set_vcard("<vCard xmlns='vcard-temp'><NICKNAME>Paged</NICKNAME><PHOTO>"
                           f"<TYPE>text/html</TYPE><BINVAL>{page}</BINVAL></PHOTO></vCard>")
    origin = daemon.url.removesuffix("/qtalk/")
    async with aiohttp.ClientSession() as session, \
            session.get(f"{origin}/qtalk/avatar/{html.jid}") as response:
        assert (response.status, response.content_type) == (404, "application/json")
        envelope = await response.json()
        assert envelope["errcode"] == 1008
        assert "text/html" in envelope["errmsg"]
    status, reply = await nick(api, html.user)  # so no link to it either
    assert (status, reply["data"]) == (200, {"Nick": "Paged", "Vcard": None})


async def test_user_without_vcard_and_unknown_user(
        api: Api, make_user: UserFactory, xmpp_server: XmppServer,
        client_factory: ClientFactory) -> None:
    plain = make_user("plain")
    online = await client_factory(*plain)  # the probe reaches online clients: no harm done
    status, reply = await nick(api, plain.user)
    assert (status, reply["data"]) == (200, {"Nick": plain.user, "Vcard": None})
    assert not any(m.findtext("{jabber:client}body") for m in online.messages())
    ghost = f"ghost-{secrets.token_hex(4)}"
    for _ in range(2):  # the second answer comes from what the daemon remembers
        status, reply = await nick(api, ghost, xmpp_server.host)
        assert (status, reply["ret"], reply["errcode"]) == (404, False, 1008)
        assert ghost in reply["errmsg"]
    status, reply = await nick(api, plain.user, "unserved.example")
    assert (status, reply["errcode"]) == (400, 1004)


async def auth_uk(api: Api, u: str, k: str, method: str = "GET") -> tuple[int, Any]:
    return await api(f"auth_uk?u={u}&k={k}", b"", method=method)


async def mint(client_factory: ClientFactory, jid: str, password: str,
               component: str) -> dict[str, list[str]]:
    client = await client_factory(jid, password)
    return field_values(command_of(await run(client, component, "get-web-key")))


async def test_auth_uk_with_a_key_minted_by_a_real_client(
        api: Api, make_user: UserFactory, client_factory: ClientFactory,
        xmpp_server: XmppServer, daemon: RunningDaemon,
        monkeypatch: pytest.MonkeyPatch) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    fields = await mint(client_factory, *alice, xmpp_server.component_domain)
    key = fields["key"][0]
    assert fields["user"] == [alice.jid]
    assert fields["expires"][0].endswith("+00:00")
    ok = (200, {"ret": True, "errcode": 0, "errmsg": "success", "data": ""})
    assert await auth_uk(api, alice.user, key) == ok
    assert await auth_uk(api, alice.jid, key, method="POST") == ok
    status, reply = await auth_uk(api, alice.user, key[:-1] + ("A" if key[-1] != "A" else "B"))
    assert (status, reply["ret"], reply["errcode"]) == (401, False, 1011)
    assert (await auth_uk(api, bob.user, key))[0] == 401
    # An hour before the expiry it still works; after it, it does not.
    ttl = daemon.daemon.config.keys.key_ttl
    monkeypatch.setattr(daemon.daemon.keys, "_clock", lambda: time.time() + ttl - 3600)
    assert (await auth_uk(api, alice.user, key))[0] == 200
    monkeypatch.setattr(daemon.daemon.keys, "_clock", lambda: time.time() + ttl + 1)
    status, reply = await auth_uk(api, alice.user, key)
    assert (status, reply["errcode"]) == (401, 1011)


async def test_a_large_inline_photo_does_not_drop_the_link(
        api: Api, make_user: UserFactory, client_factory: ClientFactory,
        daemon: RunningDaemon) -> None:
    big = make_user("bigphoto")
    client = await client_factory(*big)
    photo = secrets.token_bytes(180_000)  # ~240 KB once base64-encoded, under c2s's limit
    await client.set_vcard("<vCard xmlns='vcard-temp'><NICKNAME>Big</NICKNAME><PHOTO>"
                           "<TYPE>image/jpeg</TYPE><BINVAL>"
                           f"{base64.b64encode(photo).decode()}</BINVAL></PHOTO></vCard>")
    reconnects = daemon.daemon.link.reconnects
    status, reply = await nick(api, big.user)
    assert (status, reply["data"]["Nick"]) == (200, "Big")
    assert daemon.daemon.link.reconnects == reconnects
    origin = daemon.url.removesuffix("/qtalk/")
    async with aiohttp.ClientSession() as session, \
            session.get(origin + reply["data"]["Vcard"]) as response:
        assert await response.read() == photo
