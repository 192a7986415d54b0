"""XEP-0050 through the real dispatcher: listing, rights, stages, sessions, cancel, errors."""

from __future__ import annotations

import itertools

import pytest
from lxml import etree

from component.adhoc.adapter import COMMANDS_NS, DISCO_ITEMS_NS, AdhocAdapter
from component.adhoc.admin import add_host_command, get_web_key_command, status_command
from component.adhoc.commands import (
    Ask,
    Command,
    CommandRegistry,
    Note,
    Requester,
    Result,
    SessionTable,
)
from component.jid import Jid
from component.services.keys import KeyService
from component.services.status import StatusService, StatusSources
from component.store.db import Database
from component.store.keys import KeyStore
from component.xmpp.dispatch import DISCO_INFO_NS, Dispatcher, Identity
from component.xmpp.forms import DATA_NS, Field, Form, Submission
from component.xmpp.stanza_values import Stanza
from tests.unit.clock import ManualClock
from tests.unit.fakes import COMPONENT, HOST, hosts

ADMIN = f"boss@{HOST}/desk"
USER = f"alice@{HOST}/phone"
STRANGER = "eve@elsewhere.example/x"
C = f"{{{COMMANDS_NS}}}"
X = f"{{{DATA_NS}}}"
_ids = itertools.count(1)



class Harness:
    """A dispatcher with the ad-hoc adapter, answering into a list."""

    def __init__(self, commands: list[Command], clock: ManualClock) -> None:
        self.sent: list[Stanza] = []
        self.dispatcher = Dispatcher(Jid.parse(COMPONENT), self.sent.append,
                                     Identity("component", "generic", "test"))
        self.registry = CommandRegistry({f"Boss@{HOST}"}, hosts().is_served,
                                        SessionTable(ttl=60, clock=clock))
        for command in commands:
            self.registry.add(command)
        AdhocAdapter(self.registry, Jid.parse(COMPONENT)).register(self.dispatcher)

    async def iq(self, sender: str, iq_type: str, payload: str) -> etree._Element:
        self.dispatcher(etree.fromstring(
            f"<iq xmlns='jabber:component:accept' type='{iq_type}' id='q{next(_ids)}' "
            f"from='{sender}' to='{COMPONENT}'>{payload}</iq>"))
        await self.dispatcher.drain()
        return etree.fromstring(self.sent[-1].data)

    async def run(self, sender: str, node: str, *, action: str | None = None,
                  session: str | None = None, fields: dict[str, str] | None = None
                  ) -> etree._Element:
        attrs = f" node='{node}'" + (f" action='{action}'" if action else "") + \
            (f" sessionid='{session}'" if session else "")
        form = "" if fields is None else (
            f"<x xmlns='{DATA_NS}' type='submit'>" + "".join(
                f"<field var='{k}'><value>{v}</value></field>" for k, v in fields.items())
            + "</x>")
        return await self.iq(sender, "set", f"<command xmlns='{COMMANDS_NS}'{attrs}>{form}"
                                            "</command>")


def error_of(reply: etree._Element) -> str:
    assert reply.get("type") == "error", etree.tostring(reply)
    error = reply.find("error")
    assert error is not None
    return etree.QName(error[0]).localname


def command_of(reply: etree._Element) -> etree._Element:
    assert reply.get("type") == "result", etree.tostring(reply)
    command = reply.find(f"{C}command")
    assert command is not None
    return command


def values(command: etree._Element) -> dict[str, str]:
    return {f.get("var", ""): f.findtext(f"{X}value") or ""
            for f in command.iter(f"{X}field")}


class Trip:
    """A three-stage command that records what it did."""

    def __init__(self) -> None:
        self.done: list[str] = []

    async def start(self, requester: Requester) -> Ask:
        return Ask(Form(fields=(Field("a", required=True),)), self.second, final=False)

    async def second(self, requester: Requester, form: Submission) -> Ask:
        first = form.text("a")
        async def third(requester: Requester, form: Submission) -> Result:
            self.done.append(f"{first}+{form.text('b')}")
            return Result(Note("done"))
        return Ask(Form(fields=(Field("b"),)), third)

    def command(self) -> Command:
        return Command("trip", "A trip", self.start, admin_only=True)


@pytest.fixture
def trip() -> Trip:
    return Trip()


@pytest.fixture
def harness(db: Database, clock: ManualClock, trip: Trip) -> Harness:
    async def zero() -> int:
        return 0
    registry = hosts()
    status = StatusService(StatusSources(lambda: "up", lambda: 7, zero, zero, registry.hosts))
    keys = KeyService(KeyStore(db), registry, ttl=3600)
    return Harness([trip.command(), status_command(status), add_host_command(registry),
                    get_web_key_command(keys)], clock)


async def items(harness: Harness, sender: str) -> list[str]:
    reply = await harness.iq(sender, "get",
                             f"<query xmlns='{DISCO_ITEMS_NS}' node='{COMMANDS_NS}'/>")
    assert reply.get("type") == "result"
    return [item.get("node", "") for item in reply.iter(f"{{{DISCO_ITEMS_NS}}}item")]


async def test_listing_shows_only_what_the_requester_may_run(harness: Harness) -> None:
    assert await items(harness, ADMIN) == ["trip", "status", "add-host", "get-web-key"]
    assert await items(harness, USER) == ["get-web-key"]
    assert await items(harness, STRANGER) == []
    assert await items(harness, HOST) == []  # the server itself is no user


async def test_disco_info_of_nodes_and_root(harness: Harness) -> None:
    root = await harness.iq(USER, "get", f"<query xmlns='{DISCO_INFO_NS}'/>")
    features = {f.get("var") for f in root.iter(f"{{{DISCO_INFO_NS}}}feature")}
    assert {COMMANDS_NS, DISCO_ITEMS_NS} <= features
    node = await harness.iq(USER, "get", f"<query xmlns='{DISCO_INFO_NS}' node='get-web-key'/>")
    query = node.find(f"{{{DISCO_INFO_NS}}}query")
    assert query is not None
    assert query.get("node") == "get-web-key"
    identity = query.find(f"{{{DISCO_INFO_NS}}}identity")
    assert identity is not None
    assert (identity.get("category"), identity.get("type")) == ("automation", "command-node")
    denied = await harness.iq(USER, "get", f"<query xmlns='{DISCO_INFO_NS}' node='status'/>")
    assert error_of(denied) == "forbidden"
    unknown = await harness.iq(USER, "get", f"<query xmlns='{DISCO_INFO_NS}' node='nope'/>")
    assert error_of(unknown) == "item-not-found"


async def test_single_stage_command_completes_with_a_result_form(harness: Harness) -> None:
    command = command_of(await harness.run(ADMIN, "status"))
    assert command.get("status") == "completed"
    assert command.get("sessionid")
    assert values(command)["queue"] == "7"
    assert values(command)["link"] == "up"
    assert len(harness.registry.sessions) == 0


@pytest.mark.parametrize("node", ["trip", "status", "add-host"])
async def test_admin_commands_are_forbidden_to_others(harness: Harness, node: str) -> None:
    assert error_of(await harness.run(USER, node)) == "forbidden"
    assert error_of(await harness.run(STRANGER, node)) == "forbidden"


async def test_web_key_only_for_local_users(harness: Harness) -> None:
    command = command_of(await harness.run(USER, "get-web-key"))
    assert command.get("status") == "completed"
    fields = values(command)
    assert len(fields["key"]) >= 40
    assert fields["user"] == f"alice@{HOST}"
    assert fields["expires"].endswith("+00:00")
    assert error_of(await harness.run(STRANGER, "get-web-key")) == "forbidden"


async def test_stages_then_completion(harness: Harness, trip: Trip) -> None:
    first = command_of(await harness.run(ADMIN, "trip"))
    assert first.get("status") == "executing"
    actions = first.find(f"{C}actions")
    assert actions is not None
    assert actions.get("execute") == "next"
    assert actions.find(f"{C}next") is not None
    session = first.get("sessionid")
    second = command_of(await harness.run(ADMIN, "trip", session=session, fields={"a": "1"}))
    assert (second.get("status"), second.get("sessionid")) == ("executing", session)
    actions = second.find(f"{C}actions")
    assert actions is not None
    assert actions.get("execute") == "complete"
    done = command_of(await harness.run(ADMIN, "trip", session=session, action="complete",
                                        fields={"b": "2"}))
    assert done.get("status") == "completed"
    assert done.findtext(f"{C}note") == "done"
    assert trip.done == ["1+2"]
    assert len(harness.registry.sessions) == 0


async def test_cancel_half_way_leaves_nothing(harness: Harness, trip: Trip) -> None:
    session = command_of(await harness.run(ADMIN, "trip")).get("sessionid")
    await harness.run(ADMIN, "trip", session=session, fields={"a": "1"})
    canceled = command_of(await harness.run(ADMIN, "trip", session=session, action="cancel"))
    assert canceled.get("status") == "canceled"
    assert trip.done == []
    assert len(harness.registry.sessions) == 0
    again = await harness.run(ADMIN, "trip", session=session, fields={"b": "2"})
    assert error_of(again) == "bad-request"
    assert trip.done == []


async def test_a_session_belongs_to_the_full_jid_that_started_it(harness: Harness) -> None:
    session = command_of(await harness.run(ADMIN, "trip")).get("sessionid")
    other_resource = f"boss@{HOST}/laptop"
    assert error_of(await harness.run(other_resource, "trip", session=session,
                                      fields={"a": "1"})) == "bad-request"
    assert command_of(await harness.run(ADMIN, "trip", session=session,
                                        fields={"a": "1"})).get("status") == "executing"


async def test_sessions_expire(harness: Harness, clock: ManualClock) -> None:
    session = command_of(await harness.run(ADMIN, "trip")).get("sessionid")
    clock.now += 61
    assert error_of(await harness.run(ADMIN, "trip", session=session,
                                      fields={"a": "1"})) == "bad-request"
    assert len(harness.registry.sessions) == 0


async def test_a_wrong_form_keeps_the_stage_for_correction(harness: Harness) -> None:
    session = command_of(await harness.run(ADMIN, "trip")).get("sessionid")
    assert error_of(await harness.run(ADMIN, "trip", session=session, fields={})) \
        == "bad-request"
    again = await harness.run(ADMIN, "trip", session=session, fields={"a": "1"})
    assert command_of(again).get("status") == "executing"


async def test_protocol_errors(harness: Harness) -> None:
    assert error_of(await harness.run(ADMIN, "nope")) == "item-not-found"
    assert error_of(await harness.run(ADMIN, "trip", action="prev")) == "bad-request"
    assert error_of(await harness.run(ADMIN, "trip", action="cancel")) == "bad-request"
    assert error_of(await harness.iq(ADMIN, "set", f"<command xmlns='{COMMANDS_NS}'/>")) \
        == "bad-request"
    other = await harness.iq(ADMIN, "get", f"<query xmlns='{DISCO_ITEMS_NS}' node='x'/>")
    assert error_of(other) == "item-not-found"
    root = await harness.iq(ADMIN, "get", f"<query xmlns='{DISCO_ITEMS_NS}'/>")
    assert root.get("type") == "result"


async def test_add_host_through_its_form(harness: Harness) -> None:
    first = command_of(await harness.run(ADMIN, "add-host"))
    assert "host" in values(first)
    session = first.get("sessionid")
    done = command_of(await harness.run(ADMIN, "add-host", session=session,
                                        fields={"host": "New.Example"}))
    assert done.findtext(f"{C}note") == "new.example is now served"
    session = command_of(await harness.run(ADMIN, "add-host")).get("sessionid")
    bad = await harness.run(ADMIN, "add-host", session=session, fields={"host": "bad..x"})
    assert error_of(bad) == "bad-request"


def test_registering_a_node_twice_is_a_bug() -> None:
    async def start(requester: Requester) -> Result:
        return Result()
    registry = CommandRegistry((), lambda domain: True)
    registry.add(Command("x", "X", start))
    with pytest.raises(ValueError, match="twice"):
        registry.add(Command("x", "X again", start))


def test_sessions_per_jid_are_bounded() -> None:
    async def step(requester: Requester, form: Submission) -> Result:
        return Result()
    table = SessionTable(max_per_jid=2)
    owner = Jid.parse(ADMIN)
    for session in ("s1", "s2", "s3"):
        table.keep(session, "trip", owner, step)
    assert len(table) == 2
