"""Handlers for the original `/qtalk/` paths: parse the JSON, call a service, reply.

Field names are the original API's (reference: original-behaviour.md §2), including the
capitalised ones of send_message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from msgspec import Raw

from component.config import LimitsConfig
from component.errors import ApiError, BadField, TooLarge
from component.http import auth
from component.http import body as fields
from component.http.envelope import Answer
from component.http.replies import batch_reply, single_reply
from component.http.route import POST, Request, Route
from component.http.shapes import Recipient, SendMessage, SendNotify, ThirdItem
from component.jid import Jid, JidError
from component.numbers import ascii_decimal
from component.services.messages import (
    ChatRequest,
    ItemOutcome,
    MessageService,
    NotifyRequest,
    SendResult,
    ThirdMessage,
)


class MessageRoutes:
    def __init__(self, messages: MessageService, limits: LimitsConfig) -> None:
        self.messages = messages
        self.limits = limits

    def routes(self) -> list[Route]:
        return [Route("send_thirdmessage", POST, self.send_thirdmessage),
                Route("send_xml", POST, self.send_xml),
                Route("send_message", POST, self.send_message),
                Route("send_notify", POST, self.send_notify)]

    async def send_thirdmessage(self, request: Request) -> Answer:
        return await self._third(request, "success")

    async def send_xml(self, request: Request) -> Answer:
        return await self._third(
            request, "success; send_xml is deprecated, use /qtalk/send_thirdmessage")

    async def _third(self, request: Request, errmsg: str) -> Answer:
        value = fields.decode_as(request.body, ThirdItem | list[Raw], "item")
        if isinstance(value, list) and len(value) > self.limits.max_items:
            raise TooLarge(f"body: {len(value)} items, the limit is {self.limits.max_items}")
        if isinstance(value, ThirdItem):
            parsed = [self._third_item(request, value)]
        else:
            parsed = [self._third_item(request, item, raw) for raw, item
                      in zip(value, fields.decode_each(value, ThirdItem), strict=True)]
        good = [item for item in parsed if isinstance(item, ThirdMessage)]
        request.facts.act_as([item.sender for item in good])
        result = _merge(parsed, await self.messages.send_third(good, wait=_wait(request),
                                                               deferred=True))
        _audit(request, result)
        if isinstance(value, ThirdItem):
            return single_reply(result, errmsg)
        return batch_reply(result, errmsg)

    @staticmethod
    def _third_item(request: Request, item: ThirdItem | ApiError, raw: Raw | None = None
                    ) -> ThirdMessage | ItemOutcome:
        if isinstance(item, ApiError):
            given = fields.plain(raw) if raw is not None else None
            target = given.get("to") if isinstance(given, dict) else None
            return ItemOutcome(str(target or ""), error=item)
        try:
            _require_host_of(request, item.sender)
        except ApiError as exc:
            return ItemOutcome(item.to, error=exc)
        return ThirdMessage(item.sender, item.to, item.message)

    async def send_message(self, request: Request) -> Answer:
        body = fields.decode(request.body, SendMessage, self.limits)
        entries = fields.items(body, "to")
        users: list[str] = []  # a loop: a comprehension is a function made and called
        for entry in entries:
            if isinstance(entry, Recipient):
                users.append(entry.user)
        chat = ChatRequest(
            sender=body.sender, recipients=tuple(users), body=body.body,
            msg_type=body.type or "chat", startalk_msg_type=body.msg_type or "1",
            host=body.host or None, domain=body.domain or None, extend_info=body.extend_info)
        sender = self.messages.chat_sender(chat)
        request.facts.act_as(sender.text if sender else chat.sender)
        if sender is not None:
            auth.require_host_for(request.integrator, sender.domain)
        result = await self.messages.send_chat(chat, sender, wait=_wait(request), deferred=True)
        if len(chat.recipients) != len(entries):  # some were refused while parsing
            result = _merge([_user_of(entry) for entry in entries], result)
        _audit(request, result)
        return batch_reply(result)

    async def send_notify(self, request: Request) -> Answer:
        body = fields.decode(request.body, SendNotify, self.limits)
        notify = NotifyRequest(
            sender=body.sender, recipients=(body.to,) if isinstance(body.to, str)
            else tuple(body.to), category=body.category, data=body.data)
        request.facts.act_as(notify.sender)
        _require_host_of(request, notify.sender)
        result = await self.messages.send_notify(notify, wait=_wait(request), deferred=True)
        _audit(request, result)
        return batch_reply(result)


MAX_WAIT_SECONDS: Final = 60.0


def _wait(request: Request) -> float | None:
    """`?wait=N`: wait up to N seconds for the server's acknowledgement (0: do not wait)."""
    text = request.query.get("wait") if request.query_string else None
    if text is None:
        return None
    seconds = ascii_decimal(text)
    if seconds is None:
        raise BadField("wait", "expected a number of seconds in ASCII digits")
    if not 0 <= seconds <= MAX_WAIT_SECONDS:
        raise BadField("wait", f"must be between 0 and {MAX_WAIT_SECONDS:g} seconds")
    return seconds


def _require_host_of(request: Request, user: str) -> None:
    """The integrator must be allowed to act for the sender's domain (403 otherwise).

    A sender that is not a JID at all is left to the service, which says what is wrong
    with it; refusing it here would hide that behind a 403.
    """
    try:
        domain = Jid.parse(user).domain
    except JidError:
        return
    auth.require_host_for(request.integrator, domain)


def _audit(request: Request, result: SendResult) -> None:
    """Each item's target, and the ids of the stanzas sent, in one pass."""
    targets: list[str] = []
    stanza_ids: list[str] = []
    for item in result.items:
        targets.append(item.target)
        if item.error is None and item.id:
            stanza_ids.append(item.id)
    request.facts.add(targets, stanza_ids)


def _user_of(entry: Recipient | ApiError) -> str | ItemOutcome:
    """`{"User": name}`; an entry of another shape becomes a refused item, not a 500."""
    if isinstance(entry, Recipient):
        return entry.user
    return ItemOutcome("", error=BadField("To", 'each entry must be {"User": "<name>"}'))


def _merge(parsed: Sequence[object], sent: SendResult) -> SendResult:
    """Put the items refused while parsing back in their places among the service's."""
    if len(parsed) == len(sent.items):
        return sent  # none was refused while parsing
    outcomes = iter(sent.items)
    items = [item if isinstance(item, ItemOutcome) else next(outcomes) for item in parsed]
    return SendResult(items, sent.status, sent.pending)
