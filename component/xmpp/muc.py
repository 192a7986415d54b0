"""Pure builders and parsers for room administration by a component.

XEP-0045 muc#owner (config forms, through forms.py: XEP-0004) and muc#admin (affiliation
lists), ejabberd's MucSub (`urn:xmpp:mucsub:0`), XEP-0030 disco#info/#items with XEP-0059 RSM
paging, XEP-0054 vcard-temp, XEP-0249 direct invitations, and the error mapping of iq replies.
No I/O: payloads are lxml elements, wrapped into checked stanzas by `stanzas.build_iq`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lxml import etree

from component.errors import ApiError, Conflict, Forbidden, NotFound, XmppError
from component.jid import Jid, JidError
from component.xmpp import forms, stanzas
from component.xmpp.stanza_values import Stanza

MUC_OWNER = "http://jabber.org/protocol/muc#owner"
MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
MUC_USER = "http://jabber.org/protocol/muc#user"
MUC = "http://jabber.org/protocol/muc"
MUCSUB = "urn:xmpp:mucsub:0"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
RSM = "http://jabber.org/protocol/rsm"
VCARD = "vcard-temp"
CONFERENCE = "jabber:x:conference"
# Startalk's group profile push; the child's misspelt name is what its clients read.
VCARD_UPDATE = "http://jabber.org/protocol/muc#vcard_update"
ROOMCONFIG = "http://jabber.org/protocol/muc#roomconfig"
STANZA_ERRORS = "urn:ietf:params:xml:ns:xmpp-stanzas"
MUCSUB_NODES = tuple(f"urn:xmpp:mucsub:nodes:{node}"
                     for node in ("messages", "affiliations", "config", "subject"))

FormValues = Mapping[str, str | Sequence[str]]


def _el(ns: str, name: str, **attrs: str) -> etree._Element:
    return etree.Element(f"{{{ns}}}{name}", attrs, nsmap={None: ns})


def _sub(parent: etree._Element, ns: str, name: str, text: str | None = None,
         **attrs: str) -> etree._Element:
    """A child; one in another namespace declares it as its default (no `ns0:` prefixes)."""
    same = etree.QName(parent).namespace == ns
    child = etree.SubElement(parent, f"{{{ns}}}{name}", attrs,
                             nsmap=None if same else {None: ns})
    child.text = text
    return child


def iq(sender: Jid, recipient: Jid, stanza_id: str, iq_type: str,
       payload: etree._Element) -> Stanza:
    return stanzas.build_iq(sender, recipient, stanza_id=stanza_id, iq_type=iq_type,
                            payload=etree.tostring(payload))


# -- XEP-0045 muc#owner (its forms are XEP-0004's: forms.py) -------------------------------

def config_submit(values: FormValues) -> etree._Element:
    """A muc#owner query carrying a submitted room configuration form (XEP-0045 §10.2)."""
    query = _el(MUC_OWNER, "query")
    query.append(forms.build_submission({"FORM_TYPE": ROOMCONFIG, **values}))
    return query


def config_request() -> etree._Element:
    return _el(MUC_OWNER, "query")


def parse_form(reply: etree._Element) -> dict[str, list[str]]:
    """The field values of the first data form in a reply, by var."""
    form = reply.find(f".//{forms.X}")
    if form is None:
        return {}
    return {var: list(values) for var, values in forms.field_values(form).items()}


def destroy(reason: str) -> etree._Element:
    query = _el(MUC_OWNER, "query")
    _sub(_sub(query, MUC_OWNER, "destroy"), MUC_OWNER, "reason", reason)
    return query


def join(sender: Jid, room: Jid, nick: str, *, stanza_id: str) -> Stanza:
    """Enter a room as `nick` without its history (XEP-0045 §7.2, §7.2.15); joining a room
    that does not exist creates it, locked until its configuration is submitted (§10.1)."""
    occupant = room.with_resource(nick)
    presence = etree.Element("presence", id=stanza_id, to=str(occupant))
    presence.set("from", str(sender))
    _sub(_sub(presence, MUC, "x"), MUC, "history", maxstanzas="0")
    return Stanza("presence", stanza_id, sender, occupant, etree.tostring(presence))


def leave(sender: Jid, room: Jid, nick: str, *, stanza_id: str) -> Stanza:
    """Exit a room (XEP-0045 §7.14)."""
    occupant = room.with_resource(nick)
    presence = etree.Element("presence", type="unavailable", id=stanza_id, to=str(occupant))
    presence.set("from", str(sender))
    return Stanza("presence", stanza_id, sender, occupant, etree.tostring(presence))


# -- muc#admin affiliations ------------------------------------------------------------------

def affiliation_set(items: Iterable[tuple[Jid, str]], reason: str = "") -> etree._Element:
    query = _el(MUC_ADMIN, "query")
    for jid, affiliation in items:
        item = _sub(query, MUC_ADMIN, "item", affiliation=affiliation, jid=str(jid))
        if reason:
            _sub(item, MUC_ADMIN, "reason", reason)
    return query


def affiliation_list(affiliation: str) -> etree._Element:
    query = _el(MUC_ADMIN, "query")
    _sub(query, MUC_ADMIN, "item", affiliation=affiliation)
    return query


def parse_affiliations(reply: etree._Element) -> list[tuple[Jid, str]]:
    """(bare JID, affiliation) of each item; items without a usable JID are skipped."""
    found = []
    for item in reply.iter(f"{{{MUC_ADMIN}}}item"):
        jid = _jid(item.get("jid", ""))
        if jid is not None:
            found.append((jid.bare, item.get("affiliation", "none")))
    return found


# -- MucSub (ejabberd) -------------------------------------------------------------------------

def subscribe(jid: Jid, nick: str, nodes: Sequence[str] = MUCSUB_NODES) -> etree._Element:
    element = _el(MUCSUB, "subscribe", jid=str(jid), nick=nick)
    for node in nodes:
        _sub(element, MUCSUB, "event", node=node)
    return element


def unsubscribe(jid: Jid) -> etree._Element:
    return _el(MUCSUB, "unsubscribe", jid=str(jid))


def subscriptions_request() -> etree._Element:
    return _el(MUCSUB, "subscriptions")


def parse_subscriptions(reply: etree._Element) -> dict[Jid, str]:
    """Subscriber bare JID → nick, as a room lists them to a moderator."""
    found = {}
    for item in reply.iter(f"{{{MUCSUB}}}subscription"):
        jid = _jid(item.get("jid", ""))
        if jid is not None:
            found[jid.bare] = item.get("nick", "")
    return found


# -- disco -------------------------------------------------------------------------------------

def disco_info_request() -> etree._Element:
    return _el(DISCO_INFO, "query")


def disco_items_request(page_size: int, after: str | None = None) -> etree._Element:
    """XEP-0059 paging: ejabberd lists only non-empty rooms to an unpaged query once the
    service has more than `max_rooms_discoitems` (100) rooms."""
    query = _el(DISCO_ITEMS, "query")
    rsm = _sub(query, RSM, "set")
    _sub(rsm, RSM, "max", str(page_size))
    if after is not None:
        _sub(rsm, RSM, "after", after)
    return query


@dataclass(frozen=True, slots=True)
class ItemsPage:
    jids: list[Jid]
    last: str | None  # the RSM cursor for the next page, None on the last one


def parse_disco_items(reply: etree._Element) -> ItemsPage:
    jids = [jid for item in reply.iter(f"{{{DISCO_ITEMS}}}item")
            if (jid := _jid(item.get("jid", ""))) is not None]
    last = reply.findtext(f".//{{{RSM}}}set/{{{RSM}}}last")
    return ItemsPage(jids, last or None)


# -- vcard-temp --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class VcardData:
    found: bool  # False: the server has no vCard for this JID (ejabberd answers empty)
    nick: str = ""  # NICKNAME, else FN
    photo_url: str = ""
    photo_type: str = ""
    photo_data: bytes | None = None


def vcard_request() -> etree._Element:
    return _el(VCARD, "vCard")


def parse_vcard(reply: etree._Element) -> VcardData:
    card = reply.find(f"{{{VCARD}}}vCard")
    if card is None or len(card) == 0:
        return VcardData(found=False)

    def text(path: str) -> str:
        return (card.findtext("/".join(f"{{{VCARD}}}{part}" for part in path.split("/")))
                or "").strip()

    binval = text("PHOTO/BINVAL")
    try:
        data = base64.b64decode(binval, validate=False) if binval else None
    except (binascii.Error, ValueError):
        data = None
    return VcardData(True, text("NICKNAME") or text("FN"), text("PHOTO/EXTVAL"),
                     text("PHOTO/TYPE"), data)


# -- messages about rooms ----------------------------------------------------------------------

def invitation(sender: Jid, recipient: Jid, room: Jid, *, stanza_id: str,
               reason: str = "") -> Stanza:
    """XEP-0249 direct invitation, from the inviter: clients add the group on receipt."""
    message = etree.Element("message", type="normal", id=stanza_id, to=str(recipient))
    message.set("from", str(sender))
    invite = _sub(message, CONFERENCE, "x", jid=str(room))
    if reason:
        invite.set("reason", reason)
    return Stanza("message", stanza_id, sender, recipient, etree.tostring(message))


@dataclass(frozen=True, slots=True)
class ProfileCard:
    nick: str
    desc: str
    title: str
    pic: str
    version: int


def profile_notice(sender: Jid, room: Jid, card: ProfileCard, *, stanza_id: str) -> Stanza:
    """A bodyless groupchat to the room: status 104 (XEP-0045 §10.2.1, configuration
    changed) plus Startalk's `vcard_updte`; the room relays it to occupants and subscribers."""
    message = etree.Element("message", type="groupchat", id=stanza_id, to=str(room))
    message.set("from", str(sender))
    _sub(_sub(message, MUC_USER, "x"), MUC_USER, "status", code="104")
    _sub(message, VCARD_UPDATE, "vcard_updte", nick=card.nick, desc=card.desc,
         title=card.title, pic=card.pic, version=str(card.version))
    return Stanza("message", stanza_id, sender, room, etree.tostring(message))


# -- iq replies --------------------------------------------------------------------------------

def check_reply(reply: etree._Element, what: str) -> etree._Element:
    """The reply if it is a result; an error reply becomes the matching ApiError."""
    if reply.get("type") != "error":
        return reply
    condition, text = error_of(reply)
    detail = f"{what}: {text or condition}"
    error: ApiError
    if condition in ("item-not-found", "gone"):  # gone: Prosody's tombstone of a room
        error = NotFound(detail)
    elif condition in ("forbidden", "not-allowed"):
        error = Forbidden(detail)
    elif condition == "conflict":
        error = Conflict(detail)
    else:
        error = XmppError(what, condition=condition, text=text)
    raise error


def error_of(reply: etree._Element) -> tuple[str, str]:
    """(condition, text) of an error reply (RFC 6120 §8.3)."""
    condition, text = "undefined-condition", ""
    for error in (child for child in reply if etree.QName(child).localname == "error"):
        for child in error:
            qname = etree.QName(child)
            if qname.namespace == STANZA_ERRORS and qname.localname == "text":
                text = child.text or ""
            elif qname.namespace == STANZA_ERRORS:
                condition = qname.localname
    return condition, text


def _jid(text: str) -> Jid | None:
    try:
        return Jid.parse(text)
    except JidError:
        return None
