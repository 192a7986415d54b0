"""Typed requests of the room endpoints, from their Structs (shapes.py).

Names as the original code read them (original-behaviour.md §2.4–2.12, 2.17), including those
its documentation missed: `muc_name`, `muc_desc`, `muc_owner_host`, `muc_true_owner`, `host`.
User and room names may also be given as full JIDs (`xmpp/addresses.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from msgspec import Raw, UnsetType

from component.errors import ApiError, BadField
from component.http import body as fields
from component.http.shapes import ActorAt, ChangeMucOpts, ClearStaff, MucMembers
from component.jid import Jid
from component.numbers import ascii_int
from component.rooms.model import OptionChange
from component.xmpp.addresses import bare_address
from component.xmpp.xml import check_chars


@dataclass(frozen=True, slots=True)
class Refused:
    """An element of a list that could not be parsed: reported, never sent."""

    given: str
    error: ApiError


def room_of(name: str, domain: str, key: str, default_domain: str) -> Jid:
    return bare_address(name, domain or default_domain, key)


def actor_of(body: ActorAt, default_host: str, host: str = "") -> Jid:
    """The acting user: `muc_true_owner` (else `muc_owner`) on the first host given."""
    host = host or body.muc_owner_host or default_host
    if body.muc_true_owner:
        return bare_address(body.muc_true_owner, host, "muc_true_owner")
    if not body.muc_owner:
        raise BadField("muc_owner", "missing" if isinstance(body.muc_owner, UnsetType)
                       else "must not be empty")
    return bare_address(body.muc_owner, host, "muc_owner")


def user_list(body: MucMembers | ClearStaff, key: str, domain: str) -> list[Jid | Refused]:
    """The users of an array field; a bad element is refused alone, the others go on."""
    raws: list[Raw] = getattr(body, key)
    parsed: list[Jid | Refused] = []
    for raw, item in zip(raws, fields.items(body, key), strict=True):
        if isinstance(item, ApiError):
            parsed.append(Refused(str(fields.plain(raw)),
                                  BadField(key, "each user must be a non-empty string")))
            continue
        try:
            parsed.append(bare_address(item, domain, key))
        except ApiError as exc:
            parsed.append(Refused(item, exc))
    return parsed


def opt_flag(value: Any, key: str) -> bool | None:
    """The original's "true"/"false" strings; JSON booleans and 0/1 too; "" = unchanged."""
    if value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | str) and str(value).lower() in ("true", "1", "false", "0"):
        return str(value).lower() in ("true", "1")
    raise BadField(key, f"expected true or false, got {value!r}")


def opt_count(value: Any, key: str) -> int | None:
    """A positive integer, as a JSON number or a string of digits; "" = unchanged."""
    if value == "":
        return None
    number = ascii_int(value) if isinstance(value, str) else value
    if isinstance(number, bool) or not isinstance(number, int) or not 0 < number < 1 << 31:
        raise BadField(key, f"expected a positive integer in ASCII digits, got {value!r}")
    return number


def option_change(body: ChangeMucOpts) -> OptionChange:
    if opt_flag(body.forbidden_words, "forbidden_words") is not None:
        raise BadField("forbidden_words", "not supported by this server's rooms")
    name, description = text(body.name, "name"), text(body.description, "description")
    return OptionChange(name=name or None, description=description or None,
                        public=opt_flag(body.public, "public"),
                        persistent=opt_flag(body.persistent, "persistent"),
                        max_users=opt_count(body.max_users, "max_users"))


def text(value: str | UnsetType, key: str) -> str | None:
    """A free text of a room (name, description, reason...): only characters XML allows;
    None when it was not given."""
    return None if isinstance(value, UnsetType) else check_chars(value, key)
