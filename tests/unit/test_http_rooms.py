"""The room endpoints through aiohttp's test client: field names, shapes, honest statuses.

Services run for real over FakeMuc, a RecordingSink and SQLite; nothing here needs a server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from component.http.messages import MessageRoutes
from component.http.rooms import RoomRoutes
from component.http.server import make_pipeline
from component.jid import Jid
from component.services.messages import MessageService
from component.store.db import Database
from tests.unit.fakes import HOST, MUC, hosts
from tests.unit.http_apps import ApiClient, bearer, client_for, integrator, make_config
from tests.unit.room_stack import Stack, room_stack

Client = ApiClient


async def app_client(stack: Stack, **config: Any) -> Client:
    cfg = make_config(**config)
    messages = MessageService(stack.sink, hosts(), max_stanza_bytes=4000, groups=stack.rooms)
    routes = [*RoomRoutes(stack.rooms, stack.admin, cfg.limits, HOST).routes(),
              *MessageRoutes(messages, cfg.limits).routes()]
    return client_for(make_pipeline(cfg, routes))


@pytest.fixture
def stack(db: Database) -> Stack:
    return room_stack(db)


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Client]:
    async with await app_client(stack) as test_client:
        yield test_client


async def post(client: Client, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    response = await client.post(f"/qtalk/{path}", data=raw, **kw)
    return response.status, orjson.loads(await response.read())


async def make_group(client: Client, *members: str) -> None:
    status, reply = await post(client, "create_muc", {
        "muc_id": "Team", "muc_domain": MUC, "muc_name": "Team", "muc_desc": "d",
        "muc_owner": "x", "muc_true_owner": "alice", "muc_owner_host": HOST})
    assert status == 200, reply
    if members:
        status, reply = await post(client, "add_muc_user", {
            "muc_id": "team", "muc_owner": "alice", "muc_member": list(members)})
        assert status == 200, reply


async def test_create_answers_with_the_options_shape(client: Client) -> None:
    status, reply = await post(client, "create_muc", {
        "muc_id": "Team", "muc_name": "群", "muc_desc": "d", "muc_owner": "alice"})
    assert (status, reply["ret"], reply["errcode"]) == (200, True, 0)
    assert reply["data"] | {"maxusers": 0} == {
        "mucid": f"team@{MUC}", "maxusers": 0, "showname": "群", "description": "d",
        "owner": [{"user": "alice", "host": HOST}], "public": False, "persistent": True,
        "membersonly": True, "title": "", "picture": "", "version": 1}
    status, reply = await post(client, "create_muc", {"muc_id": "team", "muc_owner": "bob"})
    assert (status, reply["errcode"]) == (409, 1009)


async def test_member_lists_report_per_user(client: Client, stack: Stack) -> None:
    await make_group(client)
    status, reply = await post(client, "add_muc_user", {
        "muc_id": "team", "muc_owner": "alice", "muc_member": ["bob", 5, "a b", "carol@" + HOST,
                                                               "alice"]})
    assert status == 207, reply
    assert [(i["user"], i["ok"], i["status"]) for i in reply["data"]["items"]] == [
        (f"bob@{HOST}", True, "added"), ("5", False, "refused"), ("a b", False, "refused"),
        (f"carol@{HOST}", True, "added"), (f"alice@{HOST}", True, "already a member")]
    assert reply["errcode"] == 1
    status, reply = await post(client, "del_muc_user", {
        "muc_id": "team", "muc_owner": "bob", "muc_member": ["carol"]})
    assert (status, reply["errcode"]) == (403, 1403)
    status, reply = await post(client, "del_muc_user", {
        "muc_id": "team", "muc_owner": "alice", "muc_member": ["alice", "dave"]})
    assert status == 200, reply
    assert [(i["status"], i["new_owner"]) for i in reply["data"]["items"]] == [
        ("removed", f"bob@{HOST}"), ("not a member", None)]


async def test_muc_users_and_get_opts(client: Client) -> None:
    await make_group(client, "bob")
    status, reply = await post(client, "muc_users", {"muc_id": "team", "muc_domain": MUC})
    assert (status, reply) == (200, {"ret": True, "errcode": 0, "errmsg": "", "data": [
        {"U": "alice", "H": HOST, "N": "alice", "A": "owner"},
        {"U": "bob", "H": HOST, "N": "bob", "A": "member"}]})
    status, reply = await post(client, "management/get_muc_opts", {"muc": "team",
                                                                   "domain": MUC})
    assert (status, reply["data"]["mucid"], reply["data"]["owner"]) == (
        200, f"team@{MUC}", [{"user": "alice", "host": HOST}])
    status, reply = await post(client, "muc_users", {"muc_id": "nope"})
    assert (status, reply["errcode"]) == (404, 1008)


async def test_change_opts_takes_the_original_strings(client: Client) -> None:
    await make_group(client, "bob")
    status, reply = await post(client, "management/change_muc_opts", {
        "muc": "team", "domain": MUC, "public": "true", "persistent": "", "max_users": "50",
        "affiliations": "bob", "name": "New"})
    assert status == 200, reply
    data = reply["data"]
    assert (data["public"], data["maxusers"], data["showname"], data["version"]) == (
        True, 50, "New", 2)
    assert data["owner"] == [{"user": "bob", "host": HOST}]
    assert reply["errmsg"] == "Muc set opt ok"


async def test_admin_removal_and_clear_staff(client: Client) -> None:
    await make_group(client, "bob", "carol")
    status, reply = await post(client, "management/del_muc_user", {
        "muc": "team", "domain": MUC, "user": "alice", "host": HOST})
    assert (status, reply["data"]["new_owner"]) == (200, f"bob@{HOST}")
    status, reply = await post(client, "management/del_muc_user", {
        "muc": "team", "domain": MUC, "user": "alice", "host": HOST})
    assert status == 404
    status, reply = await post(client, "clear_staff", {"host": HOST,
                                                       "users": ["bob", "zed", ["x"]]})
    assert status == 207, reply
    items = reply["data"]["items"]
    assert items[0]["rooms"] == [{"mucid": f"team@{MUC}", "new_owner": f"carol@{HOST}"}]
    assert (items[1]["ok"], items[1]["rooms"]) == (True, [])
    assert items[2]["ok"] is False


async def test_notice_by_get_with_query_parameters(client: Client, stack: Stack) -> None:
    await make_group(client)
    response = await client.get("/qtalk/send_notice_vcard",
                                params={"muc_name": f"team@{MUC}", "muc_pic": "/p.png"})
    reply = orjson.loads(await response.read())
    assert (response.status, reply["data"]["version"], reply["data"]["picture"]) == (
        200, 2, "/p.png")
    assert b"vcard_updte" in stack.sink.sent[-1].data


BAD_INPUTS: dict[str, tuple[str, Any, int]] = {
    "bad json": ("create_muc", b"{", 400),
    "array body": ("create_muc", [1], 400),
    "no muc_id": ("create_muc", {"muc_owner": "alice"}, 400),
    "muc_id with a space": ("create_muc", {"muc_id": "a b", "muc_owner": "alice"}, 400),
    "muc_id a number list": ("create_muc", {"muc_id": [1], "muc_owner": "alice"}, 400),
    "foreign muc domain": ("create_muc", {"muc_id": "t", "muc_domain": "conference.x.org",
                                          "muc_owner": "alice"}, 400),
    "owner of a foreign host": ("create_muc", {"muc_id": "t", "muc_owner": "a",
                                               "muc_owner_host": "x.org"}, 400),
    "members a string": ("add_muc_user", {"muc_id": "team", "muc_owner": "alice",
                                          "muc_member": "bob"}, 400),
    "members empty": ("add_muc_user", {"muc_id": "team", "muc_owner": "alice",
                                       "muc_member": []}, 400),
    "10,000 members": ("add_muc_user", {"muc_id": "team", "muc_owner": "alice",
                                        "muc_member": [f"u{i}" for i in range(10_000)]}, 413),
    "members all bad": ("add_muc_user", {"muc_id": "team", "muc_owner": "alice",
                                         "muc_member": [None, {}]}, 400),
    "unknown room": ("add_muc_user", {"muc_id": "nope", "muc_owner": "alice",
                                      "muc_member": ["bob"]}, 404),
    "max_users words": ("management/change_muc_opts", {"muc": "team", "domain": MUC,
                                                       "max_users": "many"}, 400),
    "max_users superscript two": ("management/change_muc_opts", {
        "muc": "team", "domain": MUC, "max_users": "\u00b2"}, 400),
    "max_users circled one": ("management/change_muc_opts", {
        "muc": "team", "domain": MUC, "max_users": "\u2460"}, 400),
    "max_users Arabic-Indic": ("management/change_muc_opts", {
        "muc": "team", "domain": MUC, "max_users": "\u0661\u0662"}, 400),
    "max_users 5000 digits": ("management/change_muc_opts", {
        "muc": "team", "domain": MUC, "max_users": "9" * 5000}, 400),
    "max_users negative": ("management/change_muc_opts", {"muc": "team", "domain": MUC,
                                                          "max_users": -3}, 400),
    "public maybe": ("management/change_muc_opts", {"muc": "team", "domain": MUC,
                                                    "public": "maybe"}, 400),
    "forbidden_words": ("management/change_muc_opts", {"muc": "team", "domain": MUC,
                                                       "forbidden_words": "true"}, 400),
    "clear_staff no host": ("clear_staff", {"users": ["bob"]}, 400),
    "control character in a name": ("create_muc", {"muc_id": "new", "muc_owner": "alice",
                                                   "muc_name": "a\x01b"}, 400),
    "U+FFFE in a room": ("muc_users", {"muc_id": "te\ufffeam"}, 400),
    "NUL in a description": ("management/change_muc_opts", {"muc": "team", "domain": MUC,
                                                           "description": "\x00"}, 400),
    "clear_staff users a string": ("clear_staff", {"host": HOST, "users": "bob"}, 400),
    "groupchat to two rooms": ("send_message", {"From": "alice", "Type": "groupchat",
                                                "To": [{"User": "a"}, {"User": "b"}],
                                                "Body": "x"}, 400),
    "groupchat by a non-member": ("send_message", {"From": "zed", "Type": "groupchat",
                                                   "To": [{"User": "team"}], "Body": "x"},
                                  403),
    "thirdmessage chat to a room": ("send_thirdmessage", {
        "from": f"alice@{HOST}", "to": f"team@{MUC}",
        "message": "<message type='chat'><body>x</body></message>"}, 400),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
async def test_bad_inputs_get_clear_errors(case: str, client: Client, stack: Stack) -> None:
    await make_group(client)
    sent = len(stack.sink.sent)
    path, body, expected = BAD_INPUTS[case]
    status, reply = await post(client, path, body)
    assert (status, reply["ret"]) == (expected, False), reply
    assert reply["errcode"] >= 1000 or (status == 207 and reply["errcode"] == 1)
    assert reply["errmsg"]
    assert len(stack.sink.sent) == sent  # nothing was sent


async def test_integrators_may_act_only_for_their_hosts(stack: Stack) -> None:
    limited = integrator("ops", "t0ken-ops", hosts=["other.test.org"])
    async with await app_client(stack, integrators=[limited]) as client:
        status, reply = await post(client, "create_muc", {"muc_id": "t", "muc_owner": "alice"},
                                   headers=bearer("t0ken-ops"))
        assert (status, reply["errcode"]) == (403, 1403)
        assert stack.muc.calls == []


async def test_groupchat_goes_as_the_members_bare_jid(client: Client, stack: Stack) -> None:
    await make_group(client, "bob")
    status, reply = await post(client, "send_message", {
        "From": "bob", "Type": "groupchat", "To": [{"User": "team"}], "Body": "hi <all>",
        "Host": HOST, "Domain": MUC, "Msg_Type": "3", "Extend_Info": "e"})
    assert status == 200, reply
    sent = stack.sink.sent[-1]
    assert (sent.sender, str(sent.recipient)) == (Jid("bob", HOST), f"team@{MUC}")
    assert sent.data.startswith(b"<message type='groupchat'")
    assert b"hi &lt;all&gt;" in sent.data
    assert b"msgType='3'" in sent.data
    status, reply = await post(client, "send_thirdmessage", {
        "from": f"bob@{HOST}/phone", "to": f"team@{MUC}",
        "message": "<message type='groupchat'><body>third</body></message>"})
    assert status == 200, reply
    assert stack.sink.sent[-1].sender == Jid("bob", HOST)
