"""The message service's requests and results (services/messages.py).

A module of its own, left interpreted when the request path is compiled (setup.py): mypyc
drops the keywords of a class statement (python/mypy#21938), and these Structs' `frozen` and
`gc=False` are in them.
"""

from __future__ import annotations

import msgspec

from component.errors import ApiError
from component.services.ports import DeliveryStatus, PendingCommit
from component.xmpp.stanza_values import Stanza


class ThirdMessage(msgspec.Struct, frozen=True, gc=False):
    sender: str
    recipient: str
    message: str


class ChatRequest(msgspec.Struct, frozen=True, gc=False):
    """send_message, chat path: one message per recipient, as the original built it."""

    sender: str
    recipients: tuple[str, ...]
    body: str
    msg_type: str = "chat"
    startalk_msg_type: str = "1"
    host: str | None = None
    extend_info: str = ""
    domain: str | None = None  # the MUC service of the room (groupchat only)


class NotifyRequest(msgspec.Struct, frozen=True, gc=False):
    sender: str
    recipients: tuple[str, ...]
    category: str
    data: str


class ItemOutcome(msgspec.Struct):
    """The report for one item of a request: the stanza id, or the reason it was refused."""

    target: str
    id: str | None = None
    error: ApiError | None = None
    stanzas: list[Stanza] = msgspec.field(default_factory=list)
    key: str | None = None        # sender + caller-supplied id: a retry is not sent again
    duplicate_of: str | None = None  # "routed"/"queued": accepted before, not sent again


class SendResult(msgspec.Struct, frozen=True, gc=False):
    items: list[ItemOutcome]
    status: DeliveryStatus | None  # None when nothing was accepted
    # Sent with `deferred`: the transaction that makes it durable, not ended yet. The
    # result holds once it is committed; its caller answers no sooner (component/http).
    pending: PendingCommit | None = None
