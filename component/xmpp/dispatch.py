"""Inbound stanzas addressed to the component: one matcher table, one error mapping.

Implements XEP-0030 disco#info and XEP-0199 ping for the component's JID; every other iq
get/set gets `service-unavailable` (RFC 6120 §8.2.3: an iq must always be answered).
Handlers return a payload element (or None for an empty result) or raise an ApiError.
disco#info on a node goes to the node-info handler, if one is registered; inbound messages
and presences go to the listeners (e.g. the bounce of an account probe).

Prosody sends the replies and errors it generates for a stanza we sent as a user back over the
component stream, still addressed to that user (reference xmpp-servers.md §3b): anything not
addressed to the component's domain is never answered (an error is never answered with an
error), only handed to the listeners for users (the bounce of a message to a removed account).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lxml import etree

from component.errors import ApiError, InternalError, NotFound
from component.jid import Jid, JidError
from component.xmpp.stanza_values import Stanza
from component.xmpp.stanzas import PING_NS, build_iq, build_iq_error

log = logging.getLogger(__name__)
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"
IqHandler = Callable[[etree._Element], Awaitable["etree._Element | None"]]
Listener = Callable[[etree._Element], None]


@dataclass(frozen=True)
class Identity:
    category: str
    type: str
    name: str


def disco_info_payload(identity: Identity, features: list[str]) -> etree._Element:
    query = etree.Element(f"{{{DISCO_INFO_NS}}}query", nsmap={None: DISCO_INFO_NS})
    etree.SubElement(query, f"{{{DISCO_INFO_NS}}}identity", category=identity.category,
                     type=identity.type, name=identity.name)
    for feature in sorted(features):
        etree.SubElement(query, f"{{{DISCO_INFO_NS}}}feature", var=feature)
    return query


class Dispatcher:
    """Routes iq requests by (type, payload tag) to handlers and writes the reply."""

    def __init__(self, own_jid: Jid, send: Callable[[Stanza], None], identity: Identity) -> None:
        self.own_jid = own_jid
        self._send = send
        self._handlers: dict[tuple[str, str], IqHandler] = {}
        self._features = {DISCO_INFO_NS, PING_NS}
        self._identity = identity
        self._tasks: set[asyncio.Task[None]] = set()
        self._node_info: IqHandler | None = None
        self._listeners: list[Listener] = []
        self._user_listeners: list[Listener] = []
        self.register("get", f"{{{DISCO_INFO_NS}}}query", self._disco_info)
        self.register("get", f"{{{PING_NS}}}ping", self._pong)

    def register(self, iq_type: str, payload_tag: str, handler: IqHandler,
                 feature: str | None = None) -> None:
        self._handlers[(iq_type, payload_tag)] = handler
        if feature:
            self._features.add(feature)

    def register_node_info(self, handler: IqHandler) -> None:
        """Who answers disco#info on a node of ours (XEP-0030 §3.2), e.g. ad-hoc commands."""
        self._node_info = handler

    def listen(self, listener: Listener) -> None:
        """Be handed every inbound message and presence."""
        self._listeners.append(listener)

    def listen_for_users(self, listener: Listener) -> None:
        """Be handed what comes back addressed to the users we send as (Prosody only)."""
        self._user_listeners.append(listener)

    async def _disco_info(self, iq: etree._Element) -> etree._Element | None:
        if iq[0].get("node"):
            if self._node_info is None:
                raise NotFound("no such node")
            return await self._node_info(iq)
        return disco_info_payload(self._identity, sorted(self._features))

    async def _pong(self, iq: etree._Element) -> None:
        return None

    async def drain(self) -> None:
        """Wait for the iq handlers still running (graceful stop)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def __call__(self, stanza: etree._Element) -> None:
        if not self._for_us(stanza):
            log.debug("a %s for %s (a reply to a stanza sent as a user)",
                      etree.QName(stanza).localname, stanza.get("to"))
            for listener in self._user_listeners:
                listener(stanza)
            return
        if etree.QName(stanza).localname != "iq" or stanza.get("type") not in ("get", "set"):
            for listener in self._listeners:
                listener(stanza)
            if not self._listeners:
                log.debug("ignoring inbound %s", etree.QName(stanza).localname)
            return
        try:
            requester = Jid.parse(stanza.get("from", ""))
        except JidError:
            log.warning("iq without a usable from: dropped")
            return
        task = asyncio.create_task(self._answer(stanza, requester))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _for_us(self, stanza: etree._Element) -> bool:
        try:
            return Jid.parse(stanza.get("to", "")).domain == self.own_jid.domain
        except JidError:
            return False

    async def _answer(self, iq: etree._Element, requester: Jid) -> None:
        payload = iq[0] if len(iq) else None
        key = (iq.get("type", ""), payload.tag if payload is not None else "")
        stanza_id = iq.get("id", "")
        handler = self._handlers.get(key)  # type: ignore[arg-type]
        try:
            if handler is None:
                raise _Unavailable("no such service here")
            result = await handler(iq)
        except ApiError as exc:
            reply = build_iq_error(self.own_jid, requester, stanza_id=stanza_id,
                                   error_type=exc.xmpp_type, condition=exc.xmpp_condition,
                                   message=exc.message)
        except Exception:
            log.exception("iq handler for %s failed", key)
            err = InternalError("internal error")
            reply = build_iq_error(self.own_jid, requester, stanza_id=stanza_id,
                                   error_type=err.xmpp_type, condition=err.xmpp_condition)
        else:
            body = etree.tostring(result) if result is not None else b""
            reply = build_iq(self.own_jid, requester, stanza_id=stanza_id, iq_type="result",
                             payload=body)
        try:
            self._send(reply)
        except ApiError as exc:
            log.warning("could not answer iq %s: %s", stanza_id, exc)


class _Unavailable(ApiError):
    http_status = 503
    xmpp_condition = "service-unavailable"
    xmpp_type = "cancel"
