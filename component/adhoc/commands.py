"""XEP-0050 ad-hoc commands without the XML: what a command is, who may run it, what its
steps answer, and the sessions that carry a multi-step command from one stage to the next.

A command's steps return neutral results (`Ask` for a form to fill in, `Result` when done)
or raise an ApiError; `adapter.py` alone turns them into `<command/>` payloads (STYLE.md §3).
Commands are added to the registry explicitly, in `app.py` (STYLE.md §6).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from component.errors import BadRequest, Forbidden, NotFound
from component.jid import Jid
from component.xmpp.forms import Form, Submission

Action = Literal["execute", "next", "complete", "cancel"]
SESSION_TTL = 600.0  # seconds a half-done command waits for its next stage
MAX_SESSIONS_PER_JID = 16


@dataclass(frozen=True, slots=True)
class Requester:
    """Who runs a command: the full JID the XMPP server vouches for (it stamps the `from`
    of every c2s stanza), and what that JID may do."""

    jid: Jid
    is_admin: bool
    is_local: bool


@dataclass(frozen=True, slots=True)
class Note:
    text: str
    type: Literal["info", "warn", "error"] = "info"


@dataclass(frozen=True, slots=True)
class Result:
    """The command completed; optionally with a note and a result form."""

    note: Note | None = None
    form: Form | None = None


Step = Callable[[Requester, Submission], Awaitable["Ask | Result"]]


@dataclass(frozen=True, slots=True)
class Ask:
    """The command needs a form filled in; the submission goes to `then`. `final` says
    whether that step completes the command (the client then offers "complete")."""

    form: Form
    then: Step
    final: bool = True
    note: Note | None = None


Reply = Ask | Result
Start = Callable[[Requester], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Command:
    node: str
    name: str
    start: Start
    admin_only: bool = True  # otherwise: any user of a served domain

    def allows(self, requester: Requester) -> bool:
        return requester.is_admin if self.admin_only else requester.is_local


def ask_first(form: Form, then: Step, *, final: bool = True) -> Start:
    """The usual start of a command: show a form, whoever asks."""
    async def start(requester: Requester) -> Reply:
        return Ask(form, then, final)

    return start


@dataclass(slots=True)
class Session:
    id: str
    node: str
    owner: Jid
    step: Step
    expires_at: float


class SessionTable:
    """Stages of commands in progress, each bound to the full JID that started it
    (XEP-0050 §4.4). A session is taken out while its step runs, so a repeated submission
    cannot run a step twice; it is put back only if the step asks for more."""

    def __init__(self, ttl: float = SESSION_TTL, clock: Callable[[], float] = time.monotonic,
                 max_per_jid: int = MAX_SESSIONS_PER_JID) -> None:
        self._ttl, self._clock, self._max = ttl, clock, max_per_jid
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        self._expire()
        return len(self._sessions)

    def new_id(self) -> str:
        return secrets.token_hex(8)

    def keep(self, session_id: str, node: str, owner: Jid, step: Step) -> None:
        self._expire()
        mine = [s for s in self._sessions.values() if s.owner == owner]
        if len(mine) >= self._max:
            del self._sessions[min(mine, key=lambda s: s.expires_at).id]
        self._sessions[session_id] = Session(session_id, node, owner, step,
                                             self._clock() + self._ttl)

    def take(self, session_id: str, node: str, owner: Jid) -> Session:
        self._expire()
        session = self._sessions.get(session_id)
        if session is None or session.owner != owner or session.node != node:
            raise BadRequest("unknown or expired session")
        return self._sessions.pop(session_id)

    def _expire(self) -> None:
        now = self._clock()
        for session_id in [s.id for s in self._sessions.values() if s.expires_at <= now]:
            del self._sessions[session_id]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the adapter writes back: the session id, and the reply (None: canceled)."""

    session_id: str
    node: str
    reply: Reply | None


class CommandRegistry:
    """The commands offered at the component's JID and the rules for running them."""

    def __init__(self, admins: Iterable[str], is_local: Callable[[str], bool],
                 sessions: SessionTable | None = None) -> None:
        self.set_admins(admins)
        self._is_local = is_local
        self._commands: dict[str, Command] = {}
        self.sessions = sessions if sessions is not None else SessionTable()

    def set_admins(self, admins: Iterable[str]) -> None:
        """Who may run the admin commands, from the next stanza on (a reload changes it)."""
        self._admins = frozenset(admin.lower() for admin in admins)

    def add(self, command: Command) -> None:
        if command.node in self._commands:
            raise ValueError(f"ad-hoc command {command.node!r} registered twice")
        self._commands[command.node] = command

    def requester(self, jid: Jid) -> Requester:
        bare = str(jid.bare).lower()
        is_user = bool(jid.local)
        return Requester(jid, is_user and bare in self._admins,
                         is_user and self._is_local(jid.domain))

    def visible(self, requester: Requester) -> list[Command]:
        """What disco#items lists to this requester: only what they may run."""
        return [c for c in self._commands.values() if c.allows(requester)]

    def command(self, node: str, requester: Requester) -> Command:
        command = self._commands.get(node)
        if command is None:
            raise NotFound(f"no command {node!r} here")
        if not command.allows(requester):
            raise Forbidden("this command is for administrators" if command.admin_only
                            else "this command is for users of the served domains")
        return command

    async def execute(self, requester: Requester, node: str, action: Action,
                      session_id: str | None, submission: Submission | None) -> Outcome:
        """Run the first stage, the next stage, or cancel (XEP-0050 §3.4, §3.5)."""
        command = self.command(node, requester)
        if session_id is None:
            if action == "cancel":
                raise BadRequest("nothing to cancel: no session given")
            return self._outcome(requester, node, self.sessions.new_id(),
                                 await command.start(requester))
        session = self.sessions.take(session_id, node, requester.jid)
        if action == "cancel":
            return Outcome(session_id, node, None)
        try:
            if submission is None:
                raise BadRequest("this stage needs the completed form")
            reply = await session.step(requester, submission)
        except BadRequest:
            # A form filled in wrongly: keep the stage, so it can be corrected or canceled.
            self.sessions.keep(session_id, node, requester.jid, session.step)
            raise
        return self._outcome(requester, node, session_id, reply)

    def _outcome(self, requester: Requester, node: str, session_id: str,
                 reply: Reply) -> Outcome:
        if isinstance(reply, Ask):
            self.sessions.keep(session_id, node, requester.jid, reply.then)
        return Outcome(session_id, node, reply)
