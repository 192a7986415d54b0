"""Helpers of the room tests: unique room names, what clients see, what the server says.

The server's own view is read through ejabberd's mod_http_api (get_room_affiliations,
get_subscribers, get_room_options), never through the daemon's store.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from typing import Any

from lxml import etree

from devenv.ejabberd import EjabberdServer
from tests.integration.xmpp_client import XmppClient, tag

PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event"
MUCSUB_MESSAGES = "urn:xmpp:mucsub:nodes:messages"
MUCSUB_CONFIG = "urn:xmpp:mucsub:nodes:config"
CONFERENCE = "{jabber:x:conference}x"
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


async def server_affiliations(ejabberd: EjabberdServer, room: str) -> dict[str, str]:
    """bare JID -> affiliation, as ejabberd's own admin API lists them."""
    name, _, service = room.partition("@")
    rows = await asyncio.to_thread(ejabberd.api, "get_room_affiliations", name=name,
                                   service=service)
    return {f"{row['username']}@{row['domain']}": row["affiliation"] for row in rows
            if row["username"]}


async def server_subscribers(ejabberd: EjabberdServer, room: str) -> set[str]:
    name, _, service = room.partition("@")
    return set(await asyncio.to_thread(ejabberd.api, "get_subscribers", name=name,
                                       service=service))


async def server_rooms(ejabberd: EjabberdServer) -> set[str]:
    return set(await asyncio.to_thread(ejabberd.api, "muc_online_rooms", service="global"))


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
