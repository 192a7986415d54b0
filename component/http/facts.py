"""The facts of one call for its audit line (http/audit.py writes it).

A module of its own, left interpreted when the request path is compiled (setup.py): mypyc
drops the keywords of a class statement (python/mypy#21938), so the Struct's `gc=False` would
be lost; its methods run a few times a request.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec


class Facts(msgspec.Struct, gc=False):
    """What the handlers of one call told its audit line, in the line's order: the users it
    acted as (when the first facts named them), its targets and stanza ids (on the line once
    any facts came), then the rest in the order they came, users named later among them.

    A Struct: made with every request, in C (strings only inside: no cycle to collect). The
    message handlers, which audit every item, call `act_as` and `add` themselves: the lists
    they build are kept as they are (building and copying them through `add_facts`' keywords
    cost 7k instructions of a one-message request)."""

    acting_as: list[str] | None = None  # an ordered set: one user as a rule
    targets: list[str] | None = None  # None until the first facts
    stanza_ids: list[str] | None = None
    more: dict[str, Any] | None = None

    def act_as(self, users: str | Iterable[str]) -> None:
        """Add the users the call acts for: as the first facts they lead the line."""
        if self.targets is None:
            self.acting_as = [users] if isinstance(users, str) else [*dict.fromkeys(users)]
            self.targets, self.stanza_ids = [], []
        elif self.acting_as is not None:
            _add_users(self.acting_as, users)
        else:  # named after the first facts: after them on the line
            more = self.more or {}
            named = [*more.get("acting_as", ())]
            _add_users(named, users)
            self.more = more | {"acting_as": named}

    def add(self, targets: list[str], stanza_ids: list[str]) -> None:
        """Add targets and stanza ids (no None among them); the facts keep the lists given
        with the first facts, so each is made for this call."""
        known, ids = self.targets, self.stanza_ids
        if known is None or ids is None:
            self.targets, self.stanza_ids = targets, stanza_ids
        else:
            known.extend(targets)
            ids.extend(stanza_ids)

    def fields(self) -> dict[str, Any]:
        """The facts for the JSON log formatter."""
        if self.targets is None:
            return {}
        fields: dict[str, Any] = {} if self.acting_as is None \
            else {"acting_as": list(self.acting_as)}
        fields["targets"], fields["stanza_ids"] = self.targets, self.stanza_ids
        return fields if self.more is None else fields | listed(self.more)


def add_facts(facts: Facts, *, acting_as: str | Iterable[str] | None = None,
              targets: Iterable[str] = (), stanza_ids: Iterable[str | None] = (),
              **extra: Any) -> None:
    if acting_as is not None:
        facts.act_as(acting_as)
    # The empty defaults are skipped: each call names one or two of the three as a rule.
    if targets or stanza_ids or facts.targets is None:
        facts.add([*targets] if targets else [],
                  [*filter(None, stanza_ids)] if stanza_ids else [])
    if extra:
        facts.more = extra if facts.more is None else facts.more | extra


def _add_users(users: list[str], more: str | Iterable[str]) -> None:
    """`users`, an ordered set kept as a list (one user is the rule), with `more` added."""
    for user in (more,) if isinstance(more, str) else more:
        if user not in users:
            users.append(user)


def listed(record: dict[str, Any]) -> dict[str, Any]:
    """The JSON fields: an ordered set of facts (acting_as) as the list it is."""
    return {key: list(value) if isinstance(value, dict) else value
            for key, value in record.items()}
