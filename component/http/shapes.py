"""The request bodies of the /qtalk/ endpoints, each declared once as a msgspec Struct.

A Struct gives the decoding (component/http/body.py), the field-named errors and the
OpenAPI schema (openapi_bodies.py) alike. Field names are the original API's
(original-behaviour.md §2), kept with `name=`: `From`, `Msg_Type`, `muc_id`...; attributes
are Python names. Unknown fields are ignored, as the original did.

Two things msgspec does not check are declared here too, in `Meta(extra=...)`, and applied by
body.py and the OpenAPI document:
- `max_chars` / `max_items`: a limit, a number or the name of a `[limits]` setting (read at
  each request, so a reload changes it); over it is 413, not 400.
- `each`: an array whose items are decoded one by one, so a bad one is refused alone and the
  others go on (a 207); the array holds `msgspec.Raw` until then.
"""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import UNSET, Meta, Raw, Struct, UnsetType, field

MAX_NAME = 1023  # a user, room or domain name, or a JID
MAX_TEXT = 4096  # a room's free texts

Text = Annotated[str, Meta(min_length=1)]  # required text: "" is refused


def _name(description: str) -> Meta:
    return Meta(description=description, extra={"max_chars": MAX_NAME})


def _text(description: str) -> Meta:
    return Meta(description=description, extra={"max_chars": MAX_TEXT})


def _body_text(description: str) -> Meta:
    return Meta(description=description, extra={"max_chars": "max_body_chars"})


FLAG = Meta(description='`true`/`false` (booleans, "true"/"false", 0/1); "" leaves it',
            extra_json_schema={"anyOf": [{"type": "boolean"},
                                         {"enum": ["true", "false", "1", "0", "", 0, 1]}]})
COUNT = Meta(description='a positive integer, or its ASCII digits; "" leaves it',
             extra_json_schema={"anyOf": [
                 {"type": "integer", "minimum": 1, "maximum": (1 << 31) - 1},
                 {"type": "string", "pattern": "^[0-9]*$"}]})


# -- messages -------------------------------------------------------------------------------

class Recipient(Struct, frozen=True, gc=False):
    """One entry of send_message's `To`."""

    user: Annotated[Text, Meta(description="a user name or JID; a room for groupchat")] = \
        field(name="User")


class SendMessage(Struct, frozen=True, kw_only=True, gc=False):
    """send_message: one message per recipient, or to a room.

    Untracked by the cycle collector (`gc=False`): it holds strings and one list, which
    cannot lead back to it, and every message request makes one."""

    sender: Annotated[Text, Meta(description="the sender: a user name on `Host`, or a JID")] \
        = field(name="From")
    to: Annotated[list[Raw], Meta(
        min_length=1, description="the recipients; a bad entry is refused alone",
        extra={"each": Recipient, "max_items": "max_items", "unit": "recipients"})] \
        = field(name="To")
    body: Annotated[str, _body_text("the message text (may be empty)")] = field(name="Body")
    type: Annotated[str, Meta(description='"chat" (default), "groupchat", or a Startalk type '
                                          'such as "revoke"')] = field(default="chat", name="Type")
    msg_type: Annotated[str, Meta(description='Startalk msgType (default "1")')] = \
        field(default="1", name="Msg_Type")
    host: Annotated[str, Meta(description="the users' domain (default: the first host)")] = \
        field(default="", name="Host")
    domain: Annotated[str, Meta(description="the MUC service (groupchat)")] = \
        field(default="", name="Domain")
    extend_info: Annotated[str, _body_text("Startalk extendInfo")] = \
        field(default="", name="Extend_Info")


class ThirdItem(Struct, frozen=True, gc=False):
    """One message of send_thirdmessage (the body is one of these or an array of them)."""

    sender: Annotated[Text, Meta(description="the sender's JID, of a served domain")] = \
        field(name="from")
    to: Annotated[Text, Meta(description="the recipient's JID (a user, or a room for a "
                                         "groupchat)")]
    message: Annotated[Text, Meta(description="one <message> element, as XML (no DOCTYPE, "
                                              "entities, comments or processing instructions)")]


class SendNotify(Struct, frozen=True, kw_only=True):
    """send_notify: a headline notify to each recipient."""

    sender: Annotated[Text, Meta(description="the sender's JID")] = field(name="from")
    to: Annotated[Text | Annotated[list[str], Meta(min_length=1, extra={"max_items": "max_items"})],
                  Meta(description="a JID, or an array of them")]
    category: Annotated[Text, Meta(description="the notify category")]
    data: Annotated[str, _body_text("the notify data")] = ""


# -- users and hosts ------------------------------------------------------------------------

class GetUserNick(Struct, frozen=True, kw_only=True):
    """get_user_nick: a user's nick and avatar URL."""

    id: Annotated[Text, _name("a user name on `Domain`, or a JID")] = field(name="ID")
    domain: Annotated[str, _name("default: the first host")] = field(default="", name="Domain")


class AddHost(Struct, frozen=True):
    """add_host: serve one more user domain."""

    host: Annotated[Text, Meta(description="a domain name", extra={"max_chars": 253})]


# -- groups ---------------------------------------------------------------------------------

UserNames = Annotated[list[Raw], Meta(
    min_length=1, extra={"each": Annotated[Text, Meta(
        description="a user name (on the host) or a bare JID; a bad one is refused alone")],
        "max_items": "max_items", "unit": "users"})]


class RoomAt(Struct, frozen=True, kw_only=True):
    """muc_users: the room's members, owners first."""

    muc_id: Annotated[Text, _name("the room: a name, or a room JID")]
    muc_domain: Annotated[str, _name("the MUC service (default: the configured one)")] = ""


class ActorAt(RoomAt, frozen=True, kw_only=True):
    """A room and the user acting on it (`muc_true_owner`, else `muc_owner`)."""

    muc_owner: Annotated[str, _name("the acting user: a name on `muc_owner_host`, or a JID")] \
        | UnsetType = UNSET
    muc_owner_host: Annotated[str, _name("the users' domain (default: the first host)")] = ""
    muc_true_owner: Annotated[str, _name("the acting user, preferred over `muc_owner` when "
                                         "given")] = ""


class CreateMuc(ActorAt, frozen=True, kw_only=True):
    """create_muc: a persistent members-only room."""

    muc_name: Annotated[str, _text("the room's name")] = ""
    muc_desc: Annotated[str, _text("the room's description")] = ""


class MucMembers(ActorAt, frozen=True, kw_only=True):
    """add_muc_user, del_muc_user: the users to add or remove."""

    muc_member: UserNames


class DestroyMuc(ActorAt, frozen=True, kw_only=True):
    """destroy_muc: destroy a room (owners only)."""

    host: Annotated[str, _name("the owner's domain (else `muc_owner_host`)")] = ""
    reason: Annotated[str, _text("told to the subscribers")] = ""


class NoticeVcard(Struct, frozen=True, kw_only=True):
    """send_notice_vcard: the group card (JSON for POST, the query string for GET)."""

    muc_name: Annotated[Text, _name("the room: a name, or a room JID")]
    muc_domain: Annotated[str, _name("the MUC service (default: the configured one)")] = ""
    # Absent: kept as it is; "": cleared.
    show_name: Annotated[str, _text("the room's name")] | UnsetType = UNSET
    muc_desc: Annotated[str, _text("the room's description")] | UnsetType = UNSET
    muc_title: Annotated[str, _text("the group card's title")] | UnsetType = UNSET
    muc_pic: Annotated[str, _text("the group card's picture URL")] | UnsetType = UNSET


class MgmtRoom(Struct, frozen=True, kw_only=True):
    """management/get_muc_opts: the room's options."""

    muc: Annotated[Text, _name("the room: a name, or a room JID")]
    domain: Annotated[str, _name("the MUC service (default: the configured one)")] = ""


class ChangeMucOpts(MgmtRoom, frozen=True, kw_only=True):
    """management/change_muc_opts: `""` leaves a field as it is."""

    name: Annotated[str, _text("the room's name")] = ""
    description: Annotated[str, _text("the room's description")] = ""
    public: Annotated[Any, FLAG] = ""
    persistent: Annotated[Any, FLAG] = ""
    max_users: Annotated[Any, COUNT] = ""
    affiliations: Annotated[str, _text("the new owner (former owners stay members)")] = ""
    host: Annotated[str, Meta(description="the new owner's domain")] = ""
    forbidden_words: Annotated[Any, Meta(
        description='not supported: any value but "" is refused')] = ""


class MgmtDelUser(MgmtRoom, frozen=True, kw_only=True):
    """management/del_muc_user: remove a user, handing ownership over."""

    user: Annotated[Text, _name("the user to remove")]
    host: Annotated[str, Meta(description="the user's domain")] = ""


class ClearStaff(Struct, frozen=True, kw_only=True):
    """clear_staff: users who leave every room."""

    host: Annotated[Text, _name("the users' domain")]
    users: UserNames


# Route path (after /qtalk/) → its body. Those in ONE_OR_MANY take one such object or an
# array of up to `limits.max_items` of them, decoded one by one (messages.py).
BODIES: dict[str, type[Struct]] = {
    "send_message": SendMessage, "send_thirdmessage": ThirdItem, "send_xml": ThirdItem,
    "send_notify": SendNotify, "get_user_nick": GetUserNick, "add_host": AddHost,
    "create_muc": CreateMuc, "add_muc_user": MucMembers, "del_muc_user": MucMembers,
    "destroy_muc": DestroyMuc, "muc_users": RoomAt, "send_notice_vcard": NoticeVcard,
    "management/get_muc_opts": MgmtRoom, "management/change_muc_opts": ChangeMucOpts,
    "management/del_muc_user": MgmtDelUser, "clear_staff": ClearStaff,
}
ONE_OR_MANY = frozenset({"send_thirdmessage", "send_xml"})
