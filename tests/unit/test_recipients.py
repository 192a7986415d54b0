"""The recipient check (issue 17) with a fake at its port (the account probe), and the
message service refusing through it over a recording sink."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Sequence

import pytest
from lxml import etree

from component.errors import ApiError, ErrCode, LinkDown, NoSuchUser, XmppTimeout
from component.http.replies import batch_reply, single_reply
from component.jid import Jid
from component.services.messages import ChatRequest, MessageService, NotifyRequest, ThirdMessage
from component.services.recipients import Lost, RecipientCheck
from component.xmpp.stanza_values import Stanza
from component.xmpp.stanzas import StartalkFields, build_message
from tests.unit.clock import ManualClock
from tests.unit.fakes import HOST, MUC, RecordingSink, hosts

ALICE, BOB, GHOST = (Jid.parse(f"{name}@{HOST}") for name in ("alice", "bob", "ghost"))
KNOWN_FOR, UNKNOWN_FOR = 300.0, 10.0


class FakeAccounts:
    """The probe's contract: True or False, or the ApiError of a server that cannot tell."""

    def __init__(self, existing: set[Jid], failure: ApiError | None = None) -> None:
        self.existing = existing
        self.failure = failure
        self.asked: list[Jid] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def exists(self, user: Jid) -> bool:
        self.asked.append(user)
        await self.gate.wait()
        if self.failure is not None:
            raise self.failure
        return user in self.existing


class Checked:
    """A RecipientCheck over FakeAccounts, with a manual clock and the losses it reports."""

    def __init__(self, existing: set[Jid] | None = None, *, known_for: float = KNOWN_FOR) -> None:
        self.accounts = FakeAccounts({ALICE, BOB} if existing is None else existing)
        self.clock = ManualClock()
        self.lost: list[Lost] = []
        self.check = RecipientCheck(self.accounts, hosts(), known_for=known_for,
                                    unknown_for=UNKNOWN_FOR, on_lost=self.lost.append,
                                    clock=self.clock)

    def messages(self, sink: RecordingSink, *, carbons: bool = True) -> MessageService:
        return MessageService(sink, hosts(), max_stanza_bytes=65536, carbons=carbons,
                              recipients=self.check)

    async def settled(self) -> None:
        """Let the re-checks started after writing finish."""
        await asyncio.gather(*self.check._tasks)


async def test_known_accounts_are_answered_from_memory() -> None:
    t = Checked()
    for _ in range(3):
        screening = await t.check.screen([ALICE, BOB, GHOST])
        assert screening.missing == {GHOST}
    assert sorted(map(str, t.accounts.asked)) == [str(ALICE), str(BOB), str(GHOST)]
    assert (t.check.probes, t.check.refused) == (3, 3)


async def test_remembered_verdicts_stay_out_of_the_collectors_sight() -> None:
    """Up to 100,000 verdicts are kept: each a JID, they made every full collection some
    16 ms longer. What is kept is texts and atoms, which the collector stops tracking."""

    class Everyone:
        def __contains__(self, user: object) -> bool:
            return True

    t = Checked()
    t.accounts.existing = Everyone()  # type: ignore[assignment]
    users = [Jid(f"user{n}", HOST) for n in range(2000)]  # not Jid.parse's: it keeps some
    assert not (await t.check.screen(users)).missing
    del users
    t.accounts.asked.clear()
    gc.collect()
    tracked = len(gc.get_objects())
    t.check = RecipientCheck(t.accounts, hosts(), known_for=KNOWN_FOR, unknown_for=UNKNOWN_FOR,
                             on_lost=t.lost.append, clock=t.clock)
    gc.collect()
    assert tracked - len(gc.get_objects()) < 100  # not 2,000 JIDs and more


async def test_concurrent_lookups_of_one_name_share_one_probe() -> None:
    t = Checked()
    t.accounts.gate.clear()
    screens = [asyncio.ensure_future(t.check.screen([GHOST])) for _ in range(5)]
    await asyncio.sleep(0)
    t.accounts.gate.set()
    assert [s.missing for s in await asyncio.gather(*screens)] == [{GHOST}] * 5
    assert t.accounts.asked == [GHOST]


async def test_an_unknown_name_is_asked_again_after_a_short_while() -> None:
    t = Checked()
    await t.check.screen([GHOST])
    t.clock.now += UNKNOWN_FOR - 1
    assert (await t.check.screen([GHOST])).missing == {GHOST}
    t.accounts.existing.add(GHOST)  # created meanwhile
    t.clock.now += 2
    assert (await t.check.screen([GHOST])).missing == frozenset()
    assert t.accounts.asked == [GHOST, GHOST]


async def test_rooms_and_other_domains_are_not_probed() -> None:
    t = Checked()
    room, foreign = Jid.parse(f"room@{MUC}"), Jid.parse("bob@elsewhere.example")
    assert (await t.check.screen([room, foreign, Jid.parse(HOST)])).missing == frozenset()
    assert t.accounts.asked == []


@pytest.mark.parametrize("failure", [LinkDown("down"), XmppTimeout("no answer")])
async def test_a_server_that_cannot_answer_refuses_nothing_and_teaches_nothing(
        failure: ApiError) -> None:
    t = Checked()
    t.accounts.failure = failure
    assert (await t.check.screen([GHOST])).missing == frozenset()
    t.accounts.failure = None
    assert (await t.check.screen([GHOST])).missing == {GHOST}  # asked again, not remembered
    t.accounts.failure = failure
    with pytest.raises(type(failure)):  # get_user_nick's strict question keeps the error
        await t.check.exists(BOB)


async def test_unknown_recipients_are_refused_per_item_and_the_rest_sent() -> None:
    t, sink = Checked(), RecordingSink()
    messages = t.messages(sink)
    result = await messages.send_chat(ChatRequest("alice", ("ghost", "bob"), "hi"))
    refused, sent = result.items
    assert isinstance(refused.error, NoSuchUser)
    assert refused.stanzas == []
    assert sent.error is None
    assert [(s.recipient, s.id) for s in sink.sent] == [
        (BOB, sent.id), (ALICE, f"{sent.id}-carbon")]
    answer = batch_reply(result)
    assert (answer.status, answer.errcode) == (207, ErrCode.FAILED)
    assert b'"errcode":1012' in answer.body

    alone = await messages.send_chat(ChatRequest("alice", ("ghost",), "hi"))
    assert (batch_reply(alone).status, batch_reply(alone).errcode) == (404, 1012)
    third = await messages.send_third([ThirdMessage(str(ALICE), str(GHOST),
                                                    "<message><body>x</body></message>")])
    assert (single_reply(third).status, third.status) == (404, None)
    notify = await messages.send_notify(NotifyRequest(str(ALICE), (str(GHOST), f"{BOB}/r"),
                                                      "7", "{}"))
    assert [item.error is None for item in notify.items] == [False, True]
    assert len(sink.sent) == 3  # the first message, its carbon, bob's notification


async def test_a_sender_without_an_account_sends_without_a_carbon() -> None:
    t, sink = Checked(), RecordingSink()
    result = await t.messages(sink).send_chat(ChatRequest("hr", ("bob",), "notice"))
    assert result.items[0].error is None
    assert [s.recipient for s in sink.sent] == [BOB]


async def test_without_the_check_everything_is_sent_as_before() -> None:
    sink = RecordingSink()
    messages = MessageService(sink, hosts(), max_stanza_bytes=65536)
    result = await messages.send_chat(ChatRequest("hr", ("ghost",), "hi"))
    assert result.items[0].error is None
    assert len(sink.sent) == 2


async def learned_then_removed(t: Checked) -> MessageService:
    """bob is known; his period passes, and his account is removed meanwhile."""
    messages = t.messages(RecordingSink(), carbons=False)
    await messages.send_chat(ChatRequest("alice", ("bob",), "one"))
    t.clock.now += KNOWN_FOR + 1
    t.accounts.existing.discard(BOB)
    return messages


async def test_a_known_account_is_probed_again_after_a_written_message() -> None:
    t = Checked()
    messages = await learned_then_removed(t)
    lost = (await messages.send_chat(ChatRequest("alice", ("bob",), "two"))).items[0]
    assert lost.error is None  # not delayed: sent on what was known
    await t.settled()
    assert t.lost == [Lost(str(lost.id), BOB, ALICE, "service-unavailable", "probe")]
    assert t.check.bounced == 1
    refused = (await messages.send_chat(ChatRequest("alice", ("bob",), "three"))).items[0]
    assert isinstance(refused.error, NoSuchUser)
    assert t.accounts.asked == [BOB, BOB]


async def test_a_probe_that_finds_the_account_keeps_it_for_another_period() -> None:
    t, sink = Checked(), RecordingSink()
    messages = t.messages(sink, carbons=False)
    await messages.send_chat(ChatRequest("alice", ("bob",), "one"))
    t.clock.now += KNOWN_FOR + 1
    for text in ("two", "three"):  # one probe after the first message written, none after
        await messages.send_chat(ChatRequest("alice", ("bob",), text))
        await t.settled()
    assert (t.accounts.asked, t.lost) == ([BOB, BOB], [])


async def test_confirmed_only_while_every_account_is_known_and_recent() -> None:
    """`confirmed` spares most messages a screening; whatever screen would act on is not."""
    t = Checked()
    assert not t.check.confirmed(to(ALICE))  # never asked
    await t.check.screen([ALICE, GHOST])
    assert t.check.confirmed(to(ALICE))
    assert t.check.confirmed(to(Jid.parse(f"alice@{HOST}/pc")))  # its account: the bare JID
    assert not t.check.confirmed(to(ALICE, GHOST))  # no account: refused by screen
    t.clock.now += KNOWN_FOR
    assert not t.check.confirmed(to(ALICE))  # due: screen has it probed after the message
    assert (await t.check.screen([ALICE])).due == (ALICE,)


def to(*recipients: Jid) -> list[Stanza]:
    """A message to each of these recipients, as `confirmed` is given them."""
    return [build_message(BOB, recipient, stanza_id=f"m{n}", msg_type="chat", body="hi",
                          fields=StartalkFields()) for n, recipient in enumerate(recipients)]


def bounce(message_id: str, account: Jid, sender: Jid) -> etree._Element:
    """What Prosody sends back over the component stream for a message sent as a user."""
    return etree.fromstring(
        f"<message xmlns='jabber:component:accept' type='error' id='{message_id}' "
        f"from='{account}' to='{sender}'><error type='cancel'><service-unavailable "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")


async def test_a_bounce_from_the_server_is_reported_and_the_account_asked_again() -> None:
    t = Checked(known_for=float("inf"))  # Prosody's: its bounces come back
    await t.check.screen([BOB])
    t.accounts.existing.discard(BOB)
    t.check.on_bounce(bounce("m1", BOB, ALICE))
    t.check.on_bounce(bounce("m2", Jid.parse(f"room@{MUC}"), ALICE))  # a room: no account
    t.check.on_bounce(etree.fromstring("<message xmlns='jabber:component:accept' to='x'/>"))
    assert t.lost == [Lost("m1", BOB, ALICE, "service-unavailable", "bounce")]
    assert (await t.check.screen([BOB])).missing == {BOB}
    assert t.accounts.asked == [BOB, BOB]


async def test_a_bounce_and_the_probe_after_it_count_one_loss() -> None:
    t = Checked()
    messages = await learned_then_removed(t)
    t.accounts.gate.clear()
    lost = (await messages.send_chat(ChatRequest("alice", ("bob",), "two"))).items[0]
    t.check.on_bounce(bounce(str(lost.id), BOB, ALICE))  # before the probe's own bounce
    t.accounts.gate.set()
    await t.settled()
    assert [loss.noticed_by for loss in t.lost] == ["bounce"]


class ClaimingSink(RecordingSink):
    """The sink as a cluster's daemon has it: looking up caller ids claims them."""

    def __init__(self) -> None:
        super().__init__()
        self.claimed: list[str] = []

    async def accepted_before(self, keys: Sequence[str]) -> dict[str, str]:
        self.claimed += keys
        return await super().accepted_before(keys)


async def test_an_item_refused_for_its_recipient_claims_no_caller_id() -> None:
    t = Checked()
    sink = ClaimingSink()
    messages = t.messages(sink)
    xml = "<message type='chat' id='{}'><body>x</body></message>"
    result = await messages.send_third([
        ThirdMessage(str(ALICE), str(GHOST), xml.format("to-ghost")),
        ThirdMessage(str(ALICE), str(BOB), xml.format("to-bob"))])
    assert [item.error is None for item in result.items] == [False, True]
    assert sink.claimed == [f"{ALICE} to-bob"]  # the refused item's id stays free
