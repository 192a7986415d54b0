"""Users and rooms as the original API and the ad-hoc forms name them: a bare name on a
default domain, or a full bare JID; prepared by `Jid.parse` like every other address.
"""

from __future__ import annotations

from component.errors import BadField
from component.jid import Jid, JidError
from component.xmpp.xml import check_chars


def bare_address(text: str, default_domain: str, what: str) -> Jid:
    """`name` on `default_domain`, or `name@domain`; BadField naming `what` otherwise."""
    # Room payloads are built with lxml, which raises a bare ValueError on such characters.
    check_chars(text if "@" in text else f"{text}@{default_domain}", what)
    try:
        jid = Jid.of_name(text, default_domain)
    except JidError as exc:
        raise BadField(what, f"{text!r} is not a valid name or JID: {exc}") from None
    if not jid.local or jid.resource:
        raise BadField(what, f"{text!r} is not a bare user or room address")
    return jid
