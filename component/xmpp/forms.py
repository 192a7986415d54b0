"""XEP-0004 data forms: typed values in, `<x xmlns='jabber:x:data'/>` out, and back.

Pure functions over lxml, no I/O; the one forms module of the package. The ad-hoc commands
build forms to fill in and result forms, and read a submission (type `submit`; a `cancel`
form carries nothing); the room payloads (`muc.py`) submit a room configuration and read the
form a server answers with.
lxml refuses the characters XML 1.0 forbids, so a hostile value cannot break the stream.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from lxml import etree

from component.errors import BadField, BadRequest
from component.jid import Jid, JidError

DATA_NS = "jabber:x:data"
X = f"{{{DATA_NS}}}x"
FieldType = Literal["boolean", "fixed", "hidden", "jid-multi", "jid-single", "list-multi",
                    "list-single", "text-multi", "text-private", "text-single"]
FormType = Literal["form", "result"]
TRUE_VALUES = frozenset({"1", "true"})
FALSE_VALUES = frozenset({"0", "false"})
MAX_FIELDS = 200
_SEPARATORS = re.compile(r"[\s,]+")


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class Field:
    var: str
    type: FieldType = "text-single"
    label: str = ""
    values: tuple[str, ...] = ()
    required: bool = False
    desc: str = ""
    options: tuple[Option, ...] = ()


@dataclass(frozen=True, slots=True)
class Form:
    type: FormType = "form"
    title: str = ""
    instructions: str = ""
    fields: tuple[Field, ...] = ()


def _sub(parent: etree._Element, name: str, text: str | None = None,
         **attributes: str) -> etree._Element:
    child = etree.SubElement(parent, f"{{{DATA_NS}}}{name}", attrib=attributes or None)
    if text is not None:
        child.text = text
    return child


def build_form(form: Form) -> etree._Element:
    x = etree.Element(X, nsmap={None: DATA_NS}, type=form.type)
    if form.title:
        _sub(x, "title", form.title)
    for line in filter(None, form.instructions.split("\n")):
        _sub(x, "instructions", line)
    for item in form.fields:
        _build_field(x, item)
    return x


def _build_field(x: etree._Element, item: Field) -> None:
    attributes = {"var": item.var} if item.var else {}
    attributes["type"] = item.type
    if item.label:
        attributes["label"] = item.label
    element = _sub(x, "field", **attributes)
    if item.desc:
        _sub(element, "desc", item.desc)
    if item.required:
        _sub(element, "required")
    for value in item.values:
        _sub(element, "value", value)
    for option in item.options:
        opt = _sub(element, "option", **({"label": option.label} if option.label else {}))
        _sub(opt, "value", option.value)


def build_submission(values: Mapping[str, str | Sequence[str]]) -> etree._Element:
    """A `submit` form carrying `values` by field var, in order (XEP-0004 §3.2)."""
    x = etree.Element(X, nsmap={None: DATA_NS}, type="submit")
    for var, value in values.items():
        element = _sub(x, "field", var=var)
        for item in [value] if isinstance(value, str) else value:
            _sub(element, "value", item)
    return x


def field_values(x: etree._Element) -> dict[str, tuple[str, ...]]:
    """The values of each field of a form that has a var, by var."""
    return {var: tuple(value.text or "" for value in element.findall(f"{{{DATA_NS}}}value"))
            for element in x.findall(f"{{{DATA_NS}}}field") if (var := element.get("var"))}


@dataclass(frozen=True, slots=True)
class Submission:
    """The values of a submitted form, by field var; each accessor names the field it
    complains about, so the requester sees which one to fix."""

    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def given(self, var: str) -> bool:
        """Whether the form carries the field at all (even empty): a client may send only
        the fields that were changed."""
        return var in self.values

    def text(self, var: str, *, required: bool = True, default: str = "") -> str:
        value = "\n".join(self.values.get(var, ())).strip()
        if not value and required:
            raise BadField(var, "missing")
        return value or default

    def many(self, var: str, *, required: bool = False) -> tuple[str, ...]:
        """A multi-valued field, one value per line (text-multi values arrive as lines)."""
        found = tuple(dict.fromkeys(line.strip() for value in self.values.get(var, ())
                                    for line in value.splitlines() if line.strip()))
        if not found and required:
            raise BadField(var, "at least one value is needed")
        return found

    def boolean(self, var: str, default: bool = False) -> bool:
        value = self.text(var, required=False).lower()
        if not value:
            return default
        if value not in TRUE_VALUES | FALSE_VALUES:
            raise BadField(var, "expected a boolean (1/0/true/false)")
        return value in TRUE_VALUES

    def jid(self, var: str, *, required: bool = True) -> Jid | None:
        text = self.text(var, required=required)
        return parse_jid(var, text) if text else None

    def words(self, var: str, *, required: bool = False) -> tuple[str, ...]:
        """Values split on spaces, commas and lines, as people type lists of JIDs into the
        text box that clients show for jid-multi."""
        return tuple(dict.fromkeys(part for line in self.many(var, required=required)
                                    for part in _SEPARATORS.split(line) if part))

    def jids(self, var: str, *, required: bool = False) -> tuple[Jid, ...]:
        return tuple(dict.fromkeys(parse_jid(var, text)
                                   for text in self.words(var, required=required)))


def parse_jid(var: str, text: str) -> Jid:
    try:
        return Jid.parse(text)
    except JidError as exc:
        raise BadField(var, f"{text!r} is not a JID: {exc}") from None


def find_form(parent: etree._Element) -> etree._Element | None:
    return parent.find(X)


def parse_submission(x: etree._Element) -> Submission:
    """Read a `submit` form; anything else is a bad request (XEP-0004 §3.2)."""
    if x.tag != X or x.get("type") != "submit":
        raise BadRequest("a data form of type 'submit' was expected")
    if len(x.findall(f"{{{DATA_NS}}}field")) > MAX_FIELDS:
        raise BadRequest(f"more than {MAX_FIELDS} fields")
    return Submission(field_values(x))
