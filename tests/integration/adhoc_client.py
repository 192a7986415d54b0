"""Running XEP-0050 commands from a real c2s client (the raw XmppClient of the tests)."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from tests.integration.xmpp_client import XmppClient, next_id, tag

COMMANDS = "http://jabber.org/protocol/commands"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
DATA = "jabber:x:data"


async def command_nodes(client: XmppClient, component: str) -> list[str]:
    reply = await client.request(
        f"<iq type='get' id='{next_id('items')}' to='{component}'>"
        f"<query xmlns='{DISCO_ITEMS}' node='{COMMANDS}'/></iq>")
    assert reply.get("type") == "result", etree.tostring(reply)
    return [item.get("node", "") for item in reply.iter(f"{{{DISCO_ITEMS}}}item")]


async def run(client: XmppClient, component: str, node: str, *, session: str | None = None,
              action: str | None = None,
              fields: dict[str, str | list[str]] | None = None) -> etree._Element:
    """One stage of a command; the reply iq (result or error)."""
    attrs = f" node={quoteattr(node)}"
    attrs += f" sessionid={quoteattr(session)}" if session else ""
    attrs += f" action={quoteattr(action)}" if action else ""
    form = ""
    if fields is not None:
        form = f"<x xmlns='{DATA}' type='submit'>" + "".join(
            f"<field var={quoteattr(var)}>" + "".join(
                f"<value>{escape(v)}</value>" for v in ([value] if isinstance(value, str)
                                                        else value)) + "</field>"
            for var, value in fields.items()) + "</x>"
    return await client.request(
        f"<iq type='set' id='{next_id('cmd')}' to='{component}'>"
        f"<command xmlns='{COMMANDS}'{attrs}>{form}</command></iq>")


def command_of(reply: etree._Element) -> etree._Element:
    assert reply.get("type") == "result", etree.tostring(reply)
    command = reply.find(f"{{{COMMANDS}}}command")
    assert command is not None, etree.tostring(reply)
    return command


def field_values(command: etree._Element) -> dict[str, list[str]]:
    return {field.get("var", ""): [v.text or "" for v in field.findall(f"{{{DATA}}}value")]
            for field in command.iter(f"{{{DATA}}}field")}


def note_of(command: etree._Element) -> str:
    return command.findtext(f"{{{COMMANDS}}}note") or ""


def error_condition(reply: etree._Element) -> str:
    assert reply.get("type") == "error", etree.tostring(reply)
    error = reply.find(tag("error"))
    assert error is not None
    return etree.QName(error[0]).localname
