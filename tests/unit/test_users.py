"""get_user_nick and avatars: the user service over fakes at its ports, the account probe
over a fake link, and the HTTP routes through aiohttp's test client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from lxml import etree

from component.errors import DomainNotServed, LinkDown, NotFound, XmppError, XmppTimeout
from component.http.server import make_pipeline
from component.http.users import UserRoutes
from component.jid import Jid
from component.services.accounts import AccountProbe
from component.services.keys import KeyService
from component.services.users import UserService
from component.store.vcards import VcardEntry
from component.xmpp.accounts import build_account_probe, parse_bounce
from component.xmpp.stanza_values import Stanza
from tests.unit.fakes import COMPONENT, HOST, hosts
from tests.unit.http_apps import ApiClient, bearer, client_for, integrator, make_config
from tests.unit.test_http_messages import post

ALICE = Jid.parse(f"alice@{HOST}")
BOB = Jid.parse(f"bob@{HOST}")
GHOST = Jid.parse(f"ghost@{HOST}")
PNG = b"\x89PNG\r\n\x1a\n-fake"


class FakeVcards:
    """The nick directory's contract: a fresh entry, or the fetch's own error (here the
    server's silence for anyone it does not know)."""

    def __init__(self, entries: dict[Jid, VcardEntry]) -> None:
        self.entries = entries
        self.asked: list[Jid] = []

    async def vcard(self, jid: Jid) -> VcardEntry:
        self.asked.append(jid)
        await asyncio.sleep(0)
        if jid not in self.entries:
            raise XmppTimeout(f"no answer from {jid} in time")
        return self.entries[jid]


class FakeAccounts:
    def __init__(self, existing: set[Jid]) -> None:
        self.existing = existing
        self.asked: list[Jid] = []

    async def exists(self, user: Jid) -> bool:
        self.asked.append(user)
        return user in self.existing


def service() -> tuple[UserService, FakeVcards, FakeAccounts]:
    vcards = FakeVcards({
        ALICE: VcardEntry(ALICE, True, "Ally", "https://pics.example/a.png"),
        BOB: VcardEntry(BOB, False),
        GHOST: VcardEntry(GHOST, False),
        Jid.parse(f"carol@{HOST}"): VcardEntry(Jid.parse(f"carol@{HOST}"), True, "",
                                               photo_type="image/png", photo_data=PNG)})
    accounts = FakeAccounts({ALICE, BOB, Jid.parse(f"carol@{HOST}")})
    return UserService(vcards, accounts, hosts()), vcards, accounts


async def test_profiles() -> None:
    users, _, accounts = service()
    alice = await users.profile(Jid.parse(f"alice@{HOST}/phone"))
    assert (alice.nick, alice.photo_url, alice.photo_inline) == (
        "Ally", "https://pics.example/a.png", False)
    bob = await users.profile(BOB)
    assert (bob.nick, bob.photo_url, bob.has_vcard) == ("bob", None, False)
    carol = await users.profile(Jid.parse(f"carol@{HOST}"))
    assert (carol.nick, carol.photo_inline) == ("carol", True)
    assert accounts.asked == [BOB]  # only an empty vCard needs the probe


async def test_unknown_users_and_domains() -> None:
    users, _, _ = service()
    with pytest.raises(NotFound, match="no such user"):
        await users.profile(GHOST)
    with pytest.raises(DomainNotServed):
        await users.profile(Jid.parse("alice@unserved.example"))
    with pytest.raises(NotFound):
        await users.profile(Jid.parse(HOST))
    with pytest.raises(XmppTimeout):  # the directory's own error, as it is
        await users.profile(Jid.parse(f"silent@{HOST}"))


async def test_concurrent_lookups_share_one_fetch() -> None:
    users, vcards, _ = service()
    results = await asyncio.gather(*(users.profile(ALICE) for _ in range(5)))
    assert {r.nick for r in results} == {"Ally"}
    assert vcards.asked == [ALICE]


async def test_photo() -> None:
    users, _, _ = service()
    photo = await users.photo(Jid.parse(f"carol@{HOST}"))
    assert (photo.type, photo.data) == ("image/png", PNG)
    with pytest.raises(NotFound, match="no inline photo"):
        await users.photo(ALICE)


async def test_a_photo_of_another_type_is_no_image() -> None:
    users, vcards, _ = service()
    page = Jid.parse(f"page@{HOST}")
    vcards.entries[page] = VcardEntry(page, True, "", photo_type="text/html",
                                      photo_data=b"<script>")
    assert not (await users.profile(page)).photo_inline
    with pytest.raises(NotFound, match="'text/html'"):
        await users.photo(page)


# -- the account probe -----------------------------------------------------------------------

def test_probe_golden() -> None:
    stanza = build_account_probe(Jid.parse(COMPONENT), Jid.parse(f"bob@{HOST}/x"),
                                 stanza_id="p1")
    assert stanza.data == (
        b'<message type="headline" id="p1" to="bob@qtalk.test.org" from="api.qtalk.test.org">'
        b'<probe xmlns="urn:qtalk:probe"/><no-store xmlns="urn:xmpp:hints"/>'
        b'<no-permanent-store xmlns="urn:xmpp:hints"/></message>')
    assert (stanza.kind, stanza.recipient) == ("message", Jid.parse(f"bob@{HOST}"))


def bounce(stanza_id: str, condition: str) -> etree._Element:
    return etree.fromstring(
        f"<message xmlns='jabber:component:accept' type='error' id='{stanza_id}' "
        f"from='ghost@{HOST}' to='{COMPONENT}'><error type='cancel'><{condition} "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")


def test_parse_bounce() -> None:
    found = parse_bounce(bounce("p1", "service-unavailable"))
    assert found is not None
    assert (found.id, found.condition) == ("p1", "service-unavailable")
    assert parse_bounce(etree.fromstring("<message type='chat' id='p1'/>")) is None


class FakeLink:
    """Answers each barrier after optionally bouncing the probes, like ejabberd."""

    def __init__(self, bounce_with: str | None = None, pong: bool = True) -> None:
        self.jid = Jid.parse(COMPONENT)
        self.sent: list[Stanza] = []
        self.bounce_with, self.pong = bounce_with, pong
        self.probe: AccountProbe | None = None

    def new_id(self) -> str:
        return f"p{len(self.sent) + 1}"

    def send(self, stanza: Stanza) -> None:
        self.sent.append(stanza)

    def barrier(self) -> asyncio.Future[etree._Element]:
        future: asyncio.Future[etree._Element] = asyncio.get_running_loop().create_future()
        loop = asyncio.get_running_loop()
        if self.bounce_with and self.probe is not None:
            loop.call_soon(self.probe.on_stanza, bounce(self.sent[-1].id, self.bounce_with))
        if self.pong is True:
            loop.call_soon(future.set_result, etree.Element("iq"))
        elif self.pong is False:
            loop.call_soon(future.set_exception, LinkDown("the link dropped"))
        return future


def probe_with(link: FakeLink, timeout: float = 1.0) -> AccountProbe:
    link.probe = AccountProbe(link, timeout)
    return link.probe


async def test_probe_answers() -> None:
    assert await probe_with(FakeLink()).exists(BOB) is True
    assert await probe_with(FakeLink("service-unavailable")).exists(GHOST) is False
    with pytest.raises(XmppError):
        await probe_with(FakeLink("forbidden")).exists(GHOST)
    with pytest.raises(LinkDown):
        await probe_with(FakeLink(pong=False)).exists(BOB)


async def test_probe_times_out() -> None:
    link = FakeLink()
    link.pong = None  # type: ignore[assignment]
    with pytest.raises(XmppTimeout):
        await probe_with(link, timeout=0.05).exists(BOB)


# -- HTTP -------------------------------------------------------------------------------------

class NoKeys:
    async def add(self, *args: Any) -> None:
        pass

    async def valid(self, *args: Any) -> bool:
        return False


def user_app(**config: Any) -> ApiClient:
    users, _, _ = service()
    keys = KeyService(NoKeys(), hosts(), ttl=60)
    return client_for(make_pipeline(make_config(**config),
                               UserRoutes(users, keys, hosts()).routes()))


@pytest.fixture
async def client() -> AsyncIterator[ApiClient]:
    async with user_app() as test_client:
        yield test_client


async def nick(client: ApiClient, body: Any) -> tuple[int, Any]:
    return await post(client, "get_user_nick", body)


async def test_get_user_nick(client: ApiClient) -> None:
    assert await nick(client, {"ID": "alice", "Domain": HOST}) == (200, {
        "ret": True, "errcode": 0, "errmsg": "success",
        "data": {"Nick": "Ally", "Vcard": "https://pics.example/a.png"}})
    status, reply = await nick(client, {"ID": "bob"})  # Domain: the first host
    assert (status, reply["data"]) == (200, {"Nick": "bob", "Vcard": None})
    status, reply = await nick(client, {"ID": "carol", "Domain": HOST})
    assert reply["data"]["Vcard"] == f"/qtalk/avatar/carol@{HOST}"
    status, reply = await nick(client, {"ID": "ghost", "Domain": HOST})
    assert (status, reply["ret"], reply["errcode"]) == (404, False, 1008)
    status, reply = await nick(client, {"ID": f"Alice@{HOST}", "Domain": "ignored.example"})
    assert (status, reply["data"]["Nick"]) == (200, "Ally")
    for body, field in (({"Domain": HOST}, "ID"), ({"ID": "a b"}, "ID"), ({"ID": "a/b"}, "ID"),
                        ({"ID": "alice", "Domain": "bad domain"}, "Domain")):
        status, reply = await nick(client, body)
        assert (status, reply["errmsg"].split(":")[0]) == (400, field)
    status, reply = await nick(client, {"ID": "alice", "Domain": "unserved.example"})
    assert (status, reply["errcode"]) == (400, 1004)


async def test_avatar_download(client: ApiClient) -> None:
    response = await client.get(f"/qtalk/avatar/carol@{HOST}")
    assert response.status == 200
    assert await response.read() == PNG
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert (await client.get(f"/qtalk/avatar/alice@{HOST}")).status == 404
    assert (await client.get(f"/qtalk/avatar/ghost@{HOST}")).status == 404
    assert (await client.post(f"/qtalk/avatar/carol@{HOST}")).status == 405


async def test_an_integrator_acts_only_for_its_hosts() -> None:
    async with user_app(integrators=[integrator("hr", "hr-token-0123456789",
                                                hosts=[HOST])]) as client:
        headers = bearer("hr-token-0123456789")
        for domain, status in ((HOST, 200), ("other.test.org", 403)):
            response = await client.post("/qtalk/get_user_nick", headers=headers,
                                         data=orjson.dumps({"ID": "alice", "Domain": domain}))
            assert response.status == status
        response = await client.get(f"/qtalk/avatar/carol@{HOST}", headers=headers)
        assert response.status == 200
        response = await client.get("/qtalk/auth_uk?u=alice@other.test.org&k=x",
                                    headers=headers)
        assert response.status == 403
