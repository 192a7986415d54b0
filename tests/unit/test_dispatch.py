"""The inbound dispatcher and what a server sends back over the component stream: stanzas for
the component are answered or handed to the listeners; replies Prosody routes to us for the
users we sent as are dropped, never answered (xmpp-servers.md §3b)."""

from __future__ import annotations

from lxml import etree

from component.jid import Jid
from component.xmpp.dispatch import Dispatcher, Identity
from component.xmpp.stanza_values import Stanza
from tests.unit.fakes import COMPONENT, HOST, MUC

NS = "xmlns='jabber:component:accept'"


def dispatcher() -> tuple[Dispatcher, list[Stanza], list[etree._Element]]:
    sent: list[Stanza] = []
    heard: list[etree._Element] = []
    dispatch = Dispatcher(Jid.parse(COMPONENT), sent.append,
                          Identity("component", "generic", "test"))
    dispatch.listen(heard.append)
    return dispatch, sent, heard


async def test_replies_for_users_are_dropped_quietly() -> None:
    dispatch, sent, heard = dispatcher()
    for stanza in (
        f"<message {NS} type='error' id='m1' from='nobody@{HOST}' to='alice@{HOST}'>"
        "<error type='cancel'><service-unavailable "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
        f"<message {NS} type='error' id='g1' from='room@{MUC}' to='bob@{HOST}'/>",
        f"<iq {NS} type='get' id='q1' from='room@{MUC}' to='bob@{HOST}/bridge'>"
        "<ping xmlns='urn:xmpp:ping'/></iq>",
        f"<presence {NS} from='room@{MUC}/x'/>",
    ):
        dispatch(etree.fromstring(stanza))
    await dispatch.drain()
    assert (sent, heard) == ([], [])


async def test_stanzas_for_the_component_still_arrive() -> None:
    dispatch, sent, heard = dispatcher()
    dispatch(etree.fromstring(f"<message {NS} type='error' id='p1' from='ghost@{HOST}' "
                              f"to='{COMPONENT}'/>"))
    dispatch(etree.fromstring(f"<presence {NS} from='room@{MUC}/{COMPONENT}' "
                              f"to='{COMPONENT}/x'/>"))
    dispatch(etree.fromstring(f"<iq {NS} type='get' id='q1' from='alice@{HOST}/pc' "
                              f"to='{COMPONENT}'><ping xmlns='urn:xmpp:ping'/></iq>"))
    await dispatch.drain()
    assert [element.get("id") for element in heard] == ["p1", None]
    assert [(s.kind, s.id, str(s.recipient)) for s in sent] == [
        ("iq", "q1", f"alice@{HOST}/pc")]
