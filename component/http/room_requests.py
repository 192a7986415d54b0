"""Typed requests of the room endpoints, parsed from the original API's JSON field names.

Names as the original code read them (original-behaviour.md §2.4–2.12, 2.17), including those
its documentation missed: `muc_name`, `muc_desc`, `muc_owner_host`, `muc_true_owner`, `host`.
User and room names may also be given as full JIDs (`xmpp/addresses.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from component.errors import ApiError, BadField, TooLarge
from component.http import body as fields
from component.jid import Jid
from component.numbers import ascii_int
from component.rooms.model import OptionChange
from component.xmpp.addresses import bare_address
from component.xmpp.xml import check_chars

MAX_NAME = 1023
MAX_TEXT = 4096


@dataclass(frozen=True, slots=True)
class Refused:
    """An element of a list that could not be parsed: reported, never sent."""

    given: str
    error: ApiError


def room_of(obj: Mapping[str, Any], id_key: str, domain_key: str, default_domain: str) -> Jid:
    name = fields.req_str(dict(obj), id_key, max_chars=MAX_NAME)
    domain = fields.opt_str(dict(obj), domain_key, max_chars=MAX_NAME) or default_domain
    return bare_address(name, domain, id_key)


def actor_of(obj: Mapping[str, Any], default_host: str, *,
             host_keys: tuple[str, ...] = ("muc_owner_host",)) -> Jid:
    """The acting user: `muc_true_owner` (else `muc_owner`) on the first host given.
    Every one of these fields is read, so a wrong type is refused even where it would not
    be used."""
    data = dict(obj)
    true_owner = fields.opt_str(data, "muc_true_owner", max_chars=MAX_NAME)
    owner = fields.opt_str(data, "muc_owner", max_chars=MAX_NAME)
    hosts = [fields.opt_str(data, key, max_chars=MAX_NAME) for key in host_keys]
    host = next(filter(None, hosts), default_host)
    if true_owner:
        return bare_address(true_owner, host, "muc_true_owner")
    if not owner:
        raise BadField("muc_owner", "missing" if owner is None else "must not be empty")
    return bare_address(owner, host, "muc_owner")


def user_list(obj: Mapping[str, Any], key: str, domain: str, max_items: int
              ) -> list[Jid | Refused]:
    """A non-empty array of names/JIDs; a bad element is refused alone, the others go on."""
    value = obj.get(key)
    if not isinstance(value, list) or not value:
        raise BadField(key, "expected a non-empty array of user names")
    if len(value) > max_items:
        raise TooLarge(f"{key}: {len(value)} users, the limit is {max_items} per request")
    parsed: list[Jid | Refused] = []
    for item in value:
        if not isinstance(item, str) or not item:
            parsed.append(Refused(str(item), BadField(key, "each user must be a non-empty "
                                                           "string")))
            continue
        try:
            parsed.append(bare_address(item, domain, key))
        except ApiError as exc:
            parsed.append(Refused(item, exc))
    return parsed


def opt_flag(obj: Mapping[str, Any], key: str) -> bool | None:
    """The original's "true"/"false" strings; JSON booleans and 0/1 too; "" = unchanged."""
    value = obj.get(key, "")
    if value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | str) and str(value).lower() in ("true", "1", "false", "0"):
        return str(value).lower() in ("true", "1")
    raise BadField(key, f"expected true or false, got {value!r}")


def opt_count(obj: Mapping[str, Any], key: str) -> int | None:
    """A positive integer, as a JSON number or a string of digits; "" = unchanged."""
    value = obj.get(key, "")
    if value == "":
        return None
    number = ascii_int(value) if isinstance(value, str) else value
    if isinstance(number, bool) or not isinstance(number, int) or not 0 < number < 1 << 31:
        raise BadField(key, f"expected a positive integer in ASCII digits, got {value!r}")
    return number


def option_change(obj: Mapping[str, Any]) -> OptionChange:
    data = dict(obj)
    if opt_flag(data, "forbidden_words") is not None:
        raise BadField("forbidden_words", "not supported by this server's rooms")
    name, description = opt_text(data, "name"), opt_text(data, "description")
    return OptionChange(name=name or None, description=description or None,
                        public=opt_flag(data, "public"),
                        persistent=opt_flag(data, "persistent"),
                        max_users=opt_count(data, "max_users"))


def opt_text(obj: Mapping[str, Any], key: str) -> str | None:
    """A free text of a room (name, description, reason...): only characters XML allows."""
    text = fields.opt_str(dict(obj), key, max_chars=MAX_TEXT)
    return check_chars(text, key) if text is not None else None
