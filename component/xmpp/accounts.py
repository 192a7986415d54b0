"""Does an account exist? Asked of ejabberd by a message that bounces only when it does not.

Server quirk (ejabberd 23.01, measured; the one place it is written down): vcard-temp answers
the same empty `<vCard/>` for a user without a vCard and for an account that does not exist
(reference xmpp-servers.md §3e), and disco#info or jabber:iq:last to a bare JID answer
`subscription-required` in both cases; a presence probe gets no answer at all. What tells
them apart is the session manager: a message to the bare JID of a missing account bounces at
once with `service-unavailable`, while one to an existing account is delivered, or dropped
when the user is offline and the message is a headline. So the probe is a bodyless headline
marked no-store, followed by a barrier: ejabberd routes the bounce back before the pong.
An online user's clients do receive the probe; having no body, they show nothing.

Prosody 0.12 (measured, mod_message.lua): vcard-temp answers `item-not-found` for a user
without a vCard and for no account alike, and a headline to a bare JID is dropped for both;
a `normal` message to a missing account bounces with `service-unavailable`, while an existing
one gets it (online) or keeps it in offline storage (Prosody ignores the no-store hint): a
bodyless message, which clients show as nothing. So on Prosody the probe is of type normal.

Where the bounce of a message sent as a user goes (both measured, issue 17): ejabberd routes
it to that user's bare JID, never to the component, whatever the message type (and even an
online sender's clients do not get it); Prosody sends it back over
the component stream, addressed to that user and with the message's id, for chat and normal
messages, while a headline to a missing account is dropped without one. So a message lost to
a removed account can be seen directly only on Prosody (`parse_bounce` reads both kinds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lxml import etree

from component.jid import Jid
from component.xmpp.muc import error_of
from component.xmpp.stanza_values import Stanza

PROBE_NS = "urn:qtalk:probe"
HINTS_NS = "urn:xmpp:hints"


ProbeType = Literal["headline", "normal"]


def build_account_probe(sender: Jid, user: Jid, *, stanza_id: str,
                        message_type: ProbeType = "headline") -> Stanza:
    message = etree.Element("message", type=message_type, id=stanza_id, to=str(user.bare))
    message.set("from", str(sender))
    etree.SubElement(message, f"{{{PROBE_NS}}}probe", nsmap={None: PROBE_NS})
    for hint in ("no-store", "no-permanent-store"):
        etree.SubElement(message, f"{{{HINTS_NS}}}{hint}", nsmap={None: HINTS_NS})
    return Stanza("message", stanza_id, sender, user.bare, etree.tostring(message))


@dataclass(frozen=True, slots=True)
class Bounce:
    id: str  # the bounced message's own
    condition: str
    account: str = ""  # who bounced it: the address the message went to
    to: str = ""  # who the server tells: the address the message came from


def parse_bounce(stanza: etree._Element) -> Bounce | None:
    """The id, error condition and addresses of a bounced message; None for anything else."""
    if etree.QName(stanza).localname != "message" or stanza.get("type") != "error":
        return None
    condition, _ = error_of(stanza)
    return Bounce(stanza.get("id", ""), condition, stanza.get("from", ""), stanza.get("to", ""))
