"""Handlers for the original `/qtalk/` paths: parse the JSON, call a service, reply.

Field names are the original API's (reference: original-behaviour.md §2), including the
capitalised ones of send_message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from component.config import LimitsConfig
from component.errors import ApiError, BadField, TooLarge
from component.http import audit, auth
from component.http import body as fields
from component.http.call import Call, CallHandler
from component.http.envelope import Answer
from component.http.replies import batch_reply, single_reply
from component.http.route import POST, Route
from component.jid import Jid, JidError
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
        return [Route(path, POST, _on_aiohttp(handler))
                for path, handler in self.call_handlers().items()]

    def call_handlers(self) -> dict[str, CallHandler]:
        """The handlers by path under /qtalk/; the fast lane serves the same ones."""
        return {"send_thirdmessage": self.send_thirdmessage, "send_xml": self.send_xml,
                "send_message": self.send_message, "send_notify": self.send_notify}

    async def send_thirdmessage(self, call: Call) -> Answer:
        return await self._third(call, "success")

    async def send_xml(self, call: Call) -> Answer:
        return await self._third(
            call, "success; send_xml is deprecated, use /qtalk/send_thirdmessage")

    async def _third(self, call: Call, errmsg: str) -> Answer:
        value = fields.decode_json(call.body)
        raw_items = fields.as_items(value, self.limits.max_items)
        parsed = [self._third_item(call, item) for item in raw_items]
        good = [item for item in parsed if isinstance(item, ThirdMessage)]
        audit.add_facts(call.facts, acting_as=[item.sender for item in good])
        result = _merge(parsed, await self.messages.send_third(good, wait=_wait(call)))
        _audit(call, result)
        if isinstance(value, dict):
            return single_reply(result, errmsg)
        return batch_reply(result, errmsg)

    def _third_item(self, call: Call, item: Any) -> ThirdMessage | ItemOutcome:
        try:
            obj = fields.as_object(item, "item")
            message = ThirdMessage(fields.req_str(obj, "from"), fields.req_str(obj, "to"),
                                   fields.req_str(obj, "message"))
            _require_host_of(call, message.sender)
            return message
        except ApiError as exc:
            target = item.get("to") if isinstance(item, dict) else None
            return ItemOutcome(str(target or ""), error=exc)

    async def send_message(self, call: Call) -> Answer:
        obj = fields.as_object(fields.decode_json(call.body))
        to = obj.get("To")
        if not isinstance(to, list) or not to:
            raise BadField("To", 'expected a non-empty array of {"User": name}')
        if len(to) > self.limits.max_items:
            raise TooLarge(f"To: {len(to)} recipients, the limit is {self.limits.max_items}")
        parsed = [_user_of(entry) for entry in to]
        chat = ChatRequest(
            sender=fields.req_str(obj, "From"),
            recipients=tuple(user for user in parsed if isinstance(user, str)),
            body=fields.req_str(obj, "Body", max_chars=self.limits.max_body_chars,
                                allow_empty=True),
            msg_type=fields.opt_str(obj, "Type", "chat") or "chat",
            startalk_msg_type=fields.opt_str(obj, "Msg_Type", "1") or "1",
            host=fields.opt_str(obj, "Host"),
            domain=fields.opt_str(obj, "Domain"),
            extend_info=fields.opt_str(obj, "Extend_Info", "",
                                       max_chars=self.limits.max_body_chars) or "")
        sender = chat.sender if "@" in chat.sender \
            else f"{chat.sender}@{chat.host or self.messages.default_host}"
        audit.add_facts(call.facts, acting_as=sender)
        _require_host_of(call, sender)
        result = _merge(parsed, await self.messages.send_chat(chat, wait=_wait(call)))
        _audit(call, result)
        return batch_reply(result)

    async def send_notify(self, call: Call) -> Answer:
        obj = fields.as_object(fields.decode_json(call.body))
        notify = NotifyRequest(
            sender=fields.req_str(obj, "from"),
            recipients=fields.str_or_list(obj, "to", self.limits.max_items),
            category=fields.req_str(obj, "category"),
            data=fields.opt_str(obj, "data", "", max_chars=self.limits.max_body_chars) or "")
        audit.add_facts(call.facts, acting_as=notify.sender)
        _require_host_of(call, notify.sender)
        result = await self.messages.send_notify(notify, wait=_wait(call))
        _audit(call, result)
        return batch_reply(result)


def _on_aiohttp(handler: CallHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        return (await handler(await Call.of(request))).response()

    return handle


MAX_WAIT_SECONDS = 60.0


def _wait(call: Call) -> float | None:
    """`?wait=N`: wait up to N seconds for the server's acknowledgement (0: do not wait)."""
    text = call.wait
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        raise BadField("wait", "expected a number of seconds") from None
    if not 0 <= seconds <= MAX_WAIT_SECONDS:
        raise BadField("wait", f"must be between 0 and {MAX_WAIT_SECONDS:g} seconds")
    return seconds


def _require_host_of(call: Call, user: str) -> None:
    """The integrator must be allowed to act for the sender's domain (403 otherwise).

    A sender that is not a JID at all is left to the service, which says what is wrong
    with it; refusing it here would hide that behind a 403.
    """
    try:
        domain = Jid.parse(user).domain
    except JidError:
        return
    auth.require_host_for(call.integrator, domain)


def _audit(call: Call, result: SendResult) -> None:
    audit.add_facts(call.facts, targets=[item.target for item in result.items],
               stanza_ids=[item.id for item in result.accepted])


def _user_of(entry: Any) -> str | ItemOutcome:
    """`{"User": name}`; an entry of another shape becomes a refused item, not a 500."""
    if isinstance(entry, dict) and isinstance(entry.get("User"), str) and entry["User"]:
        return str(entry["User"])
    return ItemOutcome("", error=BadField("To", 'each entry must be {"User": "<name>"}'))


def _merge(parsed: Sequence[object], sent: SendResult) -> SendResult:
    """Put the items refused while parsing back in their places among the service's."""
    outcomes = iter(sent.items)
    items = [item if isinstance(item, ItemOutcome) else next(outcomes) for item in parsed]
    return SendResult(items, sent.status)
