"""Message injection: send_thirdmessage, send_message, send_notify (and send_xml).

Every item is checked on its own before anything is sent: a refused item is reported and
sends nothing, and never harms the other items or the link. That includes a recipient
without an account (services/recipients.py); a sender needs none (integrators send as
service names), but a copy for a sender without one is dropped. Accepted stanzas go out as
one batch, acknowledged by a barrier.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Collection, Sequence
from typing import Final

from component.errors import (
    ApiError,
    BadField,
    BadStanza,
    DomainNotServed,
    NoSuchUser,
    NotSupported,
    TooLarge,
)
from component.jid import Jid, JidError
from component.services.ports import DeliveryStatus, HostPolicy, PendingCommit, StanzaSink
from component.services.recipients import RecipientCheck
from component.services.room_ports import GroupGate
from component.xmpp import fragment
from component.xmpp.stanza_values import Stanza
from component.xmpp.stanzas import (
    StartalkFields,
    build_message,
    build_notify,
    build_sent_carbon,
    split_type,
)

log: Final = logging.getLogger(__name__)
# Startalk types whose senders' other clients got a copy in the original (carbons).
CARBON_TYPES: Final = frozenset(
    {"normal", "chat", "revoke", "note", "consult", "encrypt", "webrtc"})


# The service's requests and results: plain classes with Final fields where they do not
# change, not msgspec Structs or dataclasses (setup.py says why).


class ThirdMessage:
    def __init__(self, sender: str, recipient: str, message: str) -> None:
        self.sender: Final = sender
        self.recipient: Final = recipient
        self.message: Final = message


class ChatRequest:
    """send_message, chat path: one message per recipient, as the original built it."""

    def __init__(self, sender: str, recipients: tuple[str, ...], body: str,
                 msg_type: str = "chat", startalk_msg_type: str = "1", host: str | None = None,
                 extend_info: str = "", domain: str | None = None) -> None:
        self.sender: Final = sender
        self.recipients: Final = recipients
        self.body: Final = body
        self.msg_type: Final = msg_type
        self.startalk_msg_type: Final = startalk_msg_type
        self.host: Final = host
        self.extend_info: Final = extend_info
        self.domain: Final = domain  # the MUC service of the room (groupchat only)


class NotifyRequest:
    def __init__(self, sender: str, recipients: tuple[str, ...], category: str,
                 data: str) -> None:
        self.sender: Final = sender
        self.recipients: Final = recipients
        self.category: Final = category
        self.data: Final = data


class ItemOutcome:
    """The report for one item of a request: the stanza id, or the reason it was refused."""

    def __init__(self, target: str, id: str | None = None, error: ApiError | None = None,
                 stanzas: list[Stanza] | None = None, key: str | None = None,
                 duplicate_of: str | None = None) -> None:
        self.target = target
        self.id = id
        self.error = error
        self.stanzas: list[Stanza] = [] if stanzas is None else stanzas
        self.key = key  # sender + caller-supplied id: a retry is not sent again
        self.duplicate_of = duplicate_of  # "routed"/"queued": accepted before, not sent again


class SendResult:
    def __init__(self, items: list[ItemOutcome], status: DeliveryStatus | None,
                 pending: PendingCommit | None = None) -> None:
        self.items: Final = items
        self.status: Final = status  # None when nothing was accepted
        # Sent with `deferred`: the transaction that makes it durable, not ended yet. The
        # result holds once it is committed; its caller answers no sooner (component/http).
        self.pending: Final = pending


class MessageService:
    def __init__(self, sink: StanzaSink, hosts: HostPolicy, *, max_stanza_bytes: int,
                 max_body_chars: int = 32 << 10, groups: GroupGate | None = None,
                 carbons: bool = True, recipients: RecipientCheck | None = None) -> None:
        self._sink = sink
        self._hosts = hosts
        # Fixed by the configuration (hosts added at runtime come after the first).
        self._muc_domain, self._default_host = hosts.muc_domain, hosts.default_host
        self._max_stanza_bytes = max_stanza_bytes
        self._max_body_chars = max_body_chars
        # XEP-0280 copies to the sender's own clients: they double ejabberd's work per
        # message (measured, bench/RESULTS.md), so a deployment without such clients opts out.
        self._carbons = carbons
        self._groups = groups
        self._recipients = recipients  # None: recipients are not checked (as the original)

    @property
    def default_host(self) -> str:
        """The domain of a bare user name (send_message without Host)."""
        return self._default_host

    async def send_third(self, items: Sequence[ThirdMessage], *, wait: float | None = None,
                         deferred: bool = False) -> SendResult:
        """Inject caller-built `<message>` stanzas (send_thirdmessage). `deferred`, here and
        below: the result may come before its transaction ends (SendResult.pending)."""
        return await self._deliver([await self._third(item) for item in items], wait,
                                   keyed=True, deferred=deferred)

    def chat_sender(self, request: ChatRequest) -> Jid | None:
        """The user a send_message acts as (for the caller's checks), or None when `From`
        names no JID at all: `send_chat` then says what is wrong with it."""
        try:
            return Jid.of_name(request.sender, request.host or self._default_host)
        except JidError:
            return None

    def send_chat(self, request: ChatRequest, sender: Jid | None = None, *,
                  wait: float | None = None, deferred: bool = False) -> Awaitable[SendResult]:
        """Send a text message as a user to each recipient (send_message, chat path).

        `sender` is what `chat_sender` found, when the caller asked it: not parsed again.
        The items are made here, at the call; what is awaited is their delivery (a coroutine
        of its own around it cost a tenth of this)."""
        if request.msg_type == "groupchat":
            return self._send_group_chat(request, sender, wait, deferred)
        domain = request.host or self._default_host
        user = self._sender(request, sender, domain)
        xmpp_type, startalk_type = split_type(request.msg_type)
        fields = StartalkFields(msg_type=request.startalk_msg_type,
                                extend_info=request.extend_info, startalk_type=startalk_type,
                                msec_times=fragment.epoch_ms())
        outcomes = []  # a loop: a comprehension's function costs more than most requests' item
        for target in request.recipients:
            outcomes.append(self._chat(request.body, user, target, domain, xmpp_type, fields))
        return self._deliver(outcomes, wait, deferred=deferred)

    async def _send_group_chat(self, request: ChatRequest, sender: Jid | None,
                               wait: float | None, deferred: bool) -> SendResult:
        return await self._deliver([await self._group_chat(request, sender)], wait,
                                   deferred=deferred)

    async def send_notify(self, request: NotifyRequest, *, wait: float | None = None,
                          deferred: bool = False) -> SendResult:
        """Send Startalk's event notification to each recipient (send_notify)."""
        sender = self._address(request.sender, "from")
        outcomes = []
        for target in request.recipients:
            outcome = ItemOutcome(target)
            try:
                recipient = self._address(target, "to")
                outcome.id = fragment.new_message_id()
                outcome.stanzas.append(build_notify(
                    sender, recipient, stanza_id=outcome.id, category=request.category,
                    data=request.data))
                self._check(outcome)
            except ApiError as exc:
                outcome.error = exc
            outcomes.append(outcome)
        return await self._deliver(outcomes, wait, deferred=deferred)

    async def _third(self, item: ThirdMessage) -> ItemOutcome:
        outcome = ItemOutcome(item.recipient)
        try:
            sender = self._address(item.sender, "from")
            message = fragment.parse_message(item.message, self._max_stanza_bytes)
            fragment.check_body_length(message, self._max_body_chars, len(item.message))
            requested_type = message.root.get("type", "normal")
            groups = self._groups
            if groups is not None and _in_domain(item.recipient, groups.muc_domain):
                recipient, sender = await self._room_route(item.recipient, sender,
                                                           requested_type)
            else:
                recipient = self._address(item.recipient, "to")
            caller_id = fragment.caller_id(message)
            stanza = fragment.prepare_message(message, sender, recipient)
            outcome.key = f"{sender.bare} {caller_id}" if caller_id else None
            outcome.id = stanza.id
            outcome.stanzas += self._with_carbon(sender, stanza,
                                                 carbon=requested_type in CARBON_TYPES)
            self._check(outcome)
        except ApiError as exc:
            outcome.error, outcome.stanzas = exc, []
        return outcome

    async def _room_route(self, target: str, sender: Jid, msg_type: str) -> tuple[Jid, Jid]:
        """To a room: the room, and who sends: the member's groupchat goes as the JID the
        rooms name (ejabberd: the member's bare JID, a MucSub subscriber)."""
        assert self._groups is not None
        room = self._room(target, self._groups.muc_domain, "to")
        if msg_type != "groupchat":
            raise BadStanza(f"to: a message to the room {room} must be of type groupchat")
        return room, await self._groups.group_sender(room, sender)

    async def _group_chat(self, request: ChatRequest, sender: Jid | None) -> ItemOutcome:
        """send_message Type groupchat: To [{"User": room}], Host = the sender's domain,
        Domain = the MUC service; a non-member is refused before anything is sent."""
        if self._groups is None:
            raise NotSupported("Type groupchat: this daemon serves no rooms")
        if len(request.recipients) != 1:
            raise BadField("To", 'To not suit: a groupchat goes to one room, [{"User": room}]')
        user = self._sender(request, sender, request.host or self._default_host)
        room = self._room(request.recipients[0], request.domain or self._groups.muc_domain,
                          "To.User")
        member = await self._groups.group_sender(room, user)
        now_ms = fragment.epoch_ms()
        message_id = fragment.new_message_id(now_ms)
        outcome = ItemOutcome(str(room), id=message_id)
        fields = StartalkFields(msg_type=request.startalk_msg_type,
                                extend_info=request.extend_info, msec_times=now_ms)
        outcome.stanzas.append(build_message(member, room, stanza_id=message_id,
                                             msg_type="groupchat", body=request.body,
                                             fields=fields))
        self._check(outcome)
        return outcome

    def _room(self, name: str, domain: str, what: str) -> Jid:
        """A room of the served MUC service, from a room name or a room JID."""
        assert self._groups is not None
        try:
            jid = Jid.of_name(name, domain)
        except JidError as exc:
            raise BadField(what, f"{name!r} is not a valid room: {exc}") from None
        if jid.domain != self._groups.muc_domain:
            raise DomainNotServed(f"{what}: the MUC service here is {self._groups.muc_domain}")
        if not jid.local or jid.resource:
            raise BadField(what, f"{name!r} is not a room address")
        return jid

    def _chat(self, body: str, sender: Jid, target: str, domain: str, xmpp_type: str,
              fields: StartalkFields) -> ItemOutcome:
        """One recipient's message, with the request's `fields`."""
        try:
            recipient = self._address(target, "To.User", domain)
            message_id = fragment.new_message_id(fields.msec_times)
            stanzas = self._with_carbon(sender, build_message(
                sender, recipient, stanza_id=message_id, msg_type=xmpp_type, body=body,
                fields=fields), carbon=True)
            # Their size only: the sender is a served user (`_sender` asked the link's own
            # test, `is_served`, in this same step) and the builders write `<message>`, so
            # the link's check (DESIGN.md §2) cannot refuse them; it runs as they are written.
            for stanza in stanzas:
                self._check_size(stanza)
        except ApiError as exc:
            return ItemOutcome(target, error=exc)
        return ItemOutcome(target, message_id, None, stanzas)

    def _with_carbon(self, sender: Jid, message: Stanza, *, carbon: bool) -> list[Stanza]:
        """The message, and its XEP-0280 `sent` copy for the sender's own clients."""
        if not (carbon and self._carbons):
            return [message]
        return [message, build_sent_carbon(sender, message, stanza_id=f"{message.id}-carbon")]

    def _check(self, outcome: ItemOutcome) -> None:
        for stanza in outcome.stanzas:
            self._check_size(stanza)
            self._sink.check_addresses(stanza)

    def _check_size(self, stanza: Stanza) -> None:
        # Escaping can make a stanza several times longer than the text it was built
        # from (`<` is `&lt;`), and a carbon wraps a whole message: the limit is checked
        # on what would actually go on the wire.
        if len(stanza.data) > self._max_stanza_bytes:
            raise TooLarge(f"the {stanza.kind} stanza would be {len(stanza.data)} bytes, "
                           f"the limit is {self._max_stanza_bytes}")

    def _address(self, text: str, what: str, domain: str | None = None) -> Jid:
        """A user JID of a served domain (rooms arrive with the rooms endpoints). With
        `domain`, a bare user name is one of its users: the original passes user names and a
        host apart (send_message); `user@domain` is taken too."""
        if domain is not None and "@" not in text:
            text = f"{text}@{domain}"
        try:
            jid = Jid.parse(text)
        except JidError as exc:
            raise BadField(what, f"{text!r} is not a valid JID: {exc}") from None
        refusal = self._not_a_served_user(jid, text, what)
        if refusal is not None:
            raise refusal
        return jid

    def _not_a_served_user(self, jid: Jid, text: str, what: str) -> ApiError | None:
        """Why `jid` (written `text`) is not a user of a served domain, or None."""
        if not jid.local:
            return BadField(what, f"{text!r} is not a user JID")
        if jid.domain == self._muc_domain:
            return NotSupported(f"{what}: rooms are addressed through the rooms endpoints")
        if not self._hosts.is_served(jid.domain):
            return DomainNotServed(f"{what}: domain {jid.domain} is not served by this API")
        return None

    def _sender(self, request: ChatRequest, parsed: Jid | None, domain: str) -> Jid:
        """`From`, a served user: `parsed` when it is one, else `_address` says why not."""
        if parsed is not None and self._not_a_served_user(parsed, request.sender, "From") is None:
            return parsed
        return self._address(request.sender, "From", domain)

    async def _deliver(self, outcomes: list[ItemOutcome], wait: float | None = None, *,
                       keyed: bool = False, deferred: bool = False) -> SendResult:
        """Send the stanzas of the items not refused. `keyed`: items may carry a caller's
        id (send_thirdmessage's; send_message and send_notify items carry none)."""
        batch = _batch_of(outcomes)
        # Recipients first: in a cluster, looking for a caller id seen before claims it in
        # the shared state, and an item refused after that would hold its claim until it
        # lapsed (a retry meanwhile waited for it).
        due: Sequence[Jid] = ()
        recipients = self._recipients
        if recipients is not None and batch and not recipients.confirmed(batch):
            screening = await recipients.screen([stanza.recipient.bare for stanza in batch])
            due = screening.due
            if screening.missing:
                self._refuse_unknown(outcomes, screening.missing)
                batch = _batch_of(outcomes)
        keys = [o.key for o in outcomes if o.key and o.error is None] if keyed else []
        if keys:  # most messages carry none
            await self._drop_duplicates(outcomes, keys)
            batch = _batch_of(outcomes)
            keys = [o.key for o in outcomes if o.key and o.error is None and o.stanzas]
        if not batch:
            return SendResult(outcomes, None)
        report = await self._sink.deliver(batch, wait=wait, remember=keys, deferred=deferred)
        if due and report.status != "queued" and recipients is not None:
            # Written (or routed): a probe now goes behind the messages, within moments.
            recipients.recheck_after(due, batch)
        return SendResult(outcomes, report.status, report.pending)

    @staticmethod
    def _refuse_unknown(outcomes: list[ItemOutcome], missing: Collection[Jid]) -> None:
        """Refuse each item whose recipient has no account, and drop the copies for a sender
        without one."""
        for outcome in outcomes:
            if outcome.error is not None or not outcome.stanzas:
                continue
            message, *copies = outcome.stanzas
            if message.recipient.bare in missing:
                outcome.error = NoSuchUser(f"no such user: {message.recipient.bare}")
                outcome.stanzas = []
            else:
                outcome.stanzas = [message, *(copy for copy in copies
                                              if copy.recipient.bare not in missing)]

    async def _drop_duplicates(self, outcomes: list[ItemOutcome], keys: list[str]) -> None:
        """A message whose caller-supplied id was accepted before is reported, not resent."""
        seen = await self._sink.accepted_before(keys)
        for outcome in outcomes:
            if outcome.key is None or outcome.error is not None:
                continue
            if outcome.key in seen:
                outcome.duplicate_of, outcome.stanzas = seen[outcome.key], []
            else:
                seen[outcome.key] = "queued"  # a repeat inside this very request


def _batch_of(outcomes: list[ItemOutcome]) -> list[Stanza]:
    """The stanzas of the items not refused, in order."""
    if len(outcomes) == 1:  # send_message to one user: most requests
        only = outcomes[0]
        return only.stanzas if only.error is None else []
    return [stanza for outcome in outcomes if outcome.error is None
            for stanza in outcome.stanzas]


def _in_domain(text: str, domain: str) -> bool:
    try:
        return Jid.parse(text).domain == domain
    except JidError:
        return False
