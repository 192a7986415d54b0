"""Do a message's recipients have accounts? Answered from memory on the hot path (issue 17).

A known account costs one dict lookup per message. A name not seen before is probed once
(`xmpp/accounts.py`; concurrent requests for it share the probe) and the verdict remembered:
an unknown name for `unknown_for` seconds, so that an account created a moment later is
soon found; a known one for `known_for`. Past that, a known account is not probed before
the next message, which would delay it, but right after the message is written: the server
handles the component stream in order, so if that probe bounces, the message just before it
bounced too (the account was gone then), and its loss is reported with its id.

How a later removal is noticed depends on where the server sends the bounce of a message
sent as a user (`xmpp/accounts.py`): Prosody sends it back over the component stream, so
`on_bounce` sees each lost message and forgets the account (the next message probes it
again); ejabberd sends it to the user the message claimed to come from, so there only the
probe after a message tells.

When the server cannot answer (the link is down, or no answer in time), the recipient is let
through unchecked and nothing is remembered: the outbox is there to keep messages through an
outage, and refusing them for want of an answer would undo that.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from lxml import etree

from component.errors import ApiError
from component.jid import Jid, JidError
from component.services.ports import HostPolicy
from component.xmpp.accounts import parse_bounce
from component.xmpp.stanza_values import Stanza

log: Final = logging.getLogger(__name__)
MAX_REMEMBERED: Final = 100_000  # verdicts; the oldest are forgotten first (and probed again)
MAX_PROBES: Final = 256  # in flight at once: probes bypass the delivery window


class Accounts(Protocol):
    async def exists(self, user: Jid) -> bool:
        """Whether the server has this account; raises an ApiError when it cannot tell."""


@dataclass(frozen=True, slots=True)
class Lost:
    """A message accepted for an account that the server then said did not exist."""

    message_id: str
    recipient: Jid
    sender: Jid
    condition: str
    noticed_by: Literal["bounce", "probe"]  # the server's own bounce, or the probe after it


@dataclass(frozen=True, slots=True)
class Screening:
    missing: frozenset[Jid] = frozenset()  # no account: refuse what goes to them
    due: tuple[Jid, ...] = ()  # known, but not confirmed for a while: probe once written


class RecipientCheck:
    def __init__(self, accounts: Accounts, hosts: HostPolicy, *, known_for: float,
                 unknown_for: float, on_lost: Callable[[Lost], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._accounts = accounts
        self._hosts = hosts
        self._known_for = known_for
        self._unknown_for = unknown_for
        self._on_lost = on_lost
        self._clock = clock
        # Keyed by the address's text (equal JIDs have equal texts): strings and tuples of
        # atoms, which the collector stops tracking. Keyed by JIDs, MAX_REMEMBERED of them made
        # every full collection 16 ms longer (0.6 with strings).
        self._verdicts: dict[str, tuple[bool, float]] = {}  # exists, trusted until
        self._probing: dict[Jid, asyncio.Future[bool]] = {}
        self._slots = asyncio.Semaphore(MAX_PROBES)
        self._followed: dict[Jid, Stanza | None] = {}  # re-checks on their way: after what
        self._tasks: set[asyncio.Task[None]] = set()
        self.probes = self.refused = self.bounced = 0  # counters for /metrics

    def confirmed(self, stanzas: Sequence[Stanza]) -> bool:
        """Whether the recipient of each of these stanzas is a known account, confirmed
        lately: most messages' are (a dict lookup each, no await), and need no `screen`."""
        now, verdicts = self._clock(), self._verdicts
        for stanza in stanzas:
            verdict = verdicts.get(stanza.recipient.bare.text)
            if verdict is None or not verdict[0] or verdict[1] <= now:
                return False
        return True

    async def screen(self, users: Sequence[Jid]) -> Screening:
        """Which of these recipients have no account; users of other domains (rooms) and
        those the server could not be asked about pass."""
        now = self._clock()
        missing, due, unsure = set(), [], []
        for user in users:
            verdict = self._verdicts.get(user.text)
            if verdict is None or (not verdict[0] and verdict[1] <= now):
                if self._hosts.is_served(user.domain) and user.local:
                    unsure.append(user)
            elif not verdict[0]:
                missing.add(user)
            elif verdict[1] <= now:
                due.append(user)
        if unsure:
            missing.update(await self._probe_all(unsure))
        self.refused += len(missing)
        return Screening(frozenset(missing), tuple(due)) if missing or due else _ALL_KNOWN

    async def exists(self, user: Jid) -> bool:
        """From memory while the verdict holds, else the server's answer (its error raised)."""
        verdict = self._verdicts.get(user.text)
        if verdict is not None and verdict[1] > self._clock():
            return verdict[0]
        return await asyncio.shield(self._lookup(user))

    def recheck_after(self, due: Sequence[Jid], sent: Sequence[Stanza]) -> None:
        """`sent` was written to the server: probe each due account once, behind it."""
        for user in due:
            if user not in self._followed:
                self._followed[user] = _last_message_to(user, sent)
                task = asyncio.ensure_future(self._recheck(user))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def on_bounce(self, stanza: etree._Element) -> None:
        """Inbound stanzas addressed to users (Prosody's bounces of messages sent as them)."""
        bounce = parse_bounce(stanza)
        if bounce is None:
            return
        try:
            recipient, sender = Jid.parse(bounce.account).bare, Jid.parse(bounce.to)
        except JidError:
            return
        if not (recipient.local and self._hosts.is_served(recipient.domain)):
            return  # a room's error, say: rooms are not accounts
        self._verdicts.pop(recipient.text, None)  # asked again before the next message
        self._followed.pop(recipient, None)  # this bounce reports what a re-check would
        self._report(Lost(bounce.id, recipient, sender, bounce.condition, "bounce"))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _probe_all(self, users: list[Jid]) -> set[Jid]:
        answers = await asyncio.gather(*(asyncio.shield(self._lookup(user)) for user in users),
                                       return_exceptions=True)
        missing = set()
        for user, answer in zip(users, answers, strict=True):
            if answer is False:
                missing.add(user)
            elif isinstance(answer, ApiError):
                log.info("could not check the account %s (%s): sent unchecked", user,
                         answer.message)
            elif isinstance(answer, BaseException):
                raise answer
        return missing

    def _lookup(self, user: Jid) -> asyncio.Future[bool]:
        """One probe per account at a time, whoever asks."""
        probing = self._probing.get(user)
        if probing is None:
            probing = self._probing[user] = asyncio.ensure_future(self._probe(user))
            probing.add_done_callback(lambda done: self._probe_done(user, done))
        return probing

    async def _probe(self, user: Jid) -> bool:
        async with self._slots:
            self.probes += 1
            exists = await self._accounts.exists(user)
        self._verdicts.pop(user.text, None)  # re-inserted last: the oldest are forgotten first
        self._verdicts[user.text] = (exists, self._clock() + (self._known_for if exists
                                                         else self._unknown_for))
        if len(self._verdicts) > MAX_REMEMBERED:
            del self._verdicts[next(iter(self._verdicts))]
        return exists

    def _probe_done(self, user: Jid, probe: asyncio.Future[bool]) -> None:
        del self._probing[user]
        if not probe.cancelled():
            probe.exception()  # every waiter may have gone: retrieved, never logged as lost

    async def _recheck(self, user: Jid) -> None:
        try:
            exists = await self._lookup(user)
        except ApiError as exc:
            log.info("could not check the account %s again (%s)", user, exc.message)
            exists = True  # still due: the next message written tries again
        followed = self._followed.pop(user, None)
        if not exists and followed is not None:
            self._report(Lost(followed.id, user, followed.sender, "service-unavailable",
                              "probe"))

    def _report(self, lost: Lost) -> None:
        self.bounced += 1
        self._on_lost(lost)


_ALL_KNOWN: Final = Screening()


def _last_message_to(user: Jid, sent: Sequence[Stanza]) -> Stanza | None:
    """The last message of a batch to this account; a copy for its sender is no message."""
    return next((stanza for stanza in reversed(sent)
                 if stanza.durable and stanza.recipient.bare == user), None)
