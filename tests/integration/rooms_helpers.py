"""Helpers of the room tests: unique room names, what clients see, what the server says.

The server's own view is read over XMPP by the observer, a c2s session of an account both
test servers make a MUC service admin (`observer` fixture): affiliation lists (muc#admin),
MucSub subscriptions, disco#info; never through the daemon or its store.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
from typing import Any

from lxml import etree

from component.servers import Capabilities
from tests.integration.xmpp_client import XmppClient, next_id, tag

PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event"
MUCSUB_MESSAGES = "urn:xmpp:mucsub:nodes:messages"
MUCSUB_CONFIG = "urn:xmpp:mucsub:nodes:config"
CONFERENCE = "{jabber:x:conference}x"
MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
STANZA_ERRORS = "urn:ietf:params:xml:ns:xmpp-stanzas"
_serial = itertools.count(1)


def new_room(prefix: str = "grp") -> str:
    return f"{prefix}{next(_serial)}-{secrets.token_hex(3)}"


def mucsub_item(message: etree._Element, node: str) -> etree._Element | None:
    """The stanza a MucSub event carries for `node`, if this message is such an event."""
    items = message.find(f"{{{PUBSUB_EVENT}}}event/{{{PUBSUB_EVENT}}}items")
    if items is None or items.get("node") != node:
        return None
    item = items.find(f"{{{PUBSUB_EVENT}}}item")
    return item[0] if item is not None and len(item) else None


def group_body(message: etree._Element) -> str | None:
    inner = mucsub_item(message, MUCSUB_MESSAGES)
    return inner.findtext(tag("body")) if inner is not None else None


async def wait_group_message(client: XmppClient, body: str,
                             timeout: float = 10.0) -> etree._Element:
    """The groupchat with this body, as the MucSub event a subscriber receives."""
    event = await client.wait_message(lambda m: group_body(m) == body, timeout)
    inner = mucsub_item(event, MUCSUB_MESSAGES)
    assert inner is not None
    return inner


async def wait_invitation(client: XmppClient, room: str) -> etree._Element:
    return await client.wait_message(
        lambda m: (x := m.find(CONFERENCE)) is not None and x.get("jid") == room)


def condition_of(reply: etree._Element) -> str:
    error = reply.find(tag("error"))
    assert error is not None, etree.tostring(reply)
    return next(etree.QName(child).localname for child in error
                if etree.QName(child).namespace == STANZA_ERRORS)


async def server_affiliations(observer: XmppClient, room: str) -> dict[str, str]:
    """bare JID -> affiliation of the users (not the component) as the room lists them."""
    found: dict[str, str] = {}
    for affiliation in ("owner", "admin", "member"):
        reply = await observer.request(
            f"<iq type='get' id='{next_id('aff')}' to='{room}'><query xmlns='{MUC_ADMIN}'>"
            f"<item affiliation='{affiliation}'/></query></iq>")
        assert reply.get("type") == "result", etree.tostring(reply)
        for item in reply.iter(f"{{{MUC_ADMIN}}}item"):
            jid = item.get("jid", "").partition("/")[0]
            if "@" in jid:
                found.setdefault(jid, affiliation)
    return found


async def server_subscribers(observer: XmppClient, room: str, caps: Capabilities) -> set[str]:
    """MucSub subscribers as the room lists them; a server without MucSub must refuse the
    query (and then no one is subscribed)."""
    reply = await observer.request(
        f"<iq type='get' id='{next_id('subs')}' to='{room}'>"
        "<subscriptions xmlns='urn:xmpp:mucsub:0'/></iq>")
    if not caps.mucsub:
        assert condition_of(reply) in ("service-unavailable", "feature-not-implemented")
        return set()
    assert reply.get("type") == "result", etree.tostring(reply)
    return {item.get("jid", "") for item in reply.iter("{urn:xmpp:mucsub:0}subscription")}


def subscribed(caps: Capabilities, *jids: str) -> set[str]:
    """Who the room lists as subscribers once the daemon subscribed `jids`: all of them
    with MucSub, nobody without (members are affiliated only)."""
    return set(jids) if caps.mucsub else set()


async def room_exists(observer: XmppClient, room: str) -> bool:
    """disco#info on the room: item-not-found, or `gone` for Prosody's tombstone, if not."""
    reply = await _disco_info(observer, room)
    if reply.get("type") == "result":
        return True
    assert condition_of(reply) in ("item-not-found", "gone"), etree.tostring(reply)
    return False


async def _disco_info(observer: XmppClient, room: str, tries: int = 10) -> etree._Element:
    """The room's answer to disco#info, asked again while unanswered: ejabberd 23.01 answers
    a destroy before the room's process ends and drops an iq routed to it in between (12 of
    60 queries sent right after a destroy, measured here), so one lost query says nothing."""
    def query() -> str:
        return (f"<iq type='get' id='{next_id('info')}' to='{room}'>"
                "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>")

    for _ in range(tries - 1):
        with contextlib.suppress(TimeoutError):
            return await observer.request(query(), timeout=1.0)
    return await observer.request(query())


async def config_form(client: XmppClient, room: str) -> dict[str, list[str]]:
    """The room's configuration form as the server shows it to an owner's own client."""
    reply = await client.request(
        f"<iq type='get' id='{secrets.token_hex(4)}' to='{room}'>"
        "<query xmlns='http://jabber.org/protocol/muc#owner'/></iq>")
    assert reply.get("type") == "result", etree.tostring(reply)
    data = "{jabber:x:data}"
    return {field.get("var", ""): [v.text or "" for v in field.findall(f"{data}value")]
            for field in reply.iter(f"{data}field")}


def items_by_user(reply: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["user"]: item for item in reply["data"]["items"]}


async def client_room(client: XmppClient, room: str, nick: str, *members: str) -> None:
    """A room made the ordinary way by a plain client: join, configure, affiliate, leave."""
    client.send(f"<presence to='{room}/{nick}'><x xmlns='http://jabber.org/protocol/muc'/>"
                "</presence>")
    await client.wait_for(lambda el: el.get("from") == f"{room}/{nick}")
    form = ("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>"
            "http://jabber.org/protocol/muc#roomconfig</value></field><field "
            "var='muc#roomconfig_persistentroom'><value>1</value></field></x>")
    reply = await client.request(f"<iq type='set' id='cfg-{nick}' to='{room}'><query "
                                 f"xmlns='http://jabber.org/protocol/muc#owner'>{form}</query></iq>")
    assert reply.get("type") == "result"
    items = "".join(f"<item affiliation='member' jid='{m}'/>" for m in members)
    reply = await client.request(f"<iq type='set' id='aff-{nick}' to='{room}'><query xmlns="
                                 f"'http://jabber.org/protocol/muc#admin'>{items}</query></iq>")
    assert reply.get("type") == "result"
    client.send(f"<presence type='unavailable' to='{room}/{nick}'/>")
