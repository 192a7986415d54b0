"""The error hierarchy, with the wire mapping kept on the classes.

Each error declares its errcode (the integer in the HTTP envelope), its HTTP status and its
XMPP stanza error condition. The mapping is applied in exactly two places: the HTTP request
pipeline (component/http/pipeline.py) and the XMPP stanza-error builder.
"""

from __future__ import annotations

from enum import IntEnum, unique
from typing import Any, ClassVar


@unique
class ErrCode(IntEnum):
    """Stable integer error codes of the HTTP envelope (documented in README)."""

    SUCCESS = 0
    FAILED = 1  # the original's generic failure; kept for "partially done" batch answers
    BAD_JSON = 1001
    BAD_FIELD = 1002
    BAD_STANZA = 1003
    DOMAIN_NOT_SERVED = 1004
    TOO_LARGE = 1005
    UNKNOWN_PATH = 1006
    METHOD_NOT_ALLOWED = 1007
    NOT_FOUND = 1008
    CONFLICT = 1009
    NOT_SUPPORTED = 1010
    AUTH_FAILED = 1011  # auth_uk: a user key that is wrong, expired or not for this host
    NO_SUCH_USER = 1012  # a message's recipient has no account: refused, nothing sent to it
    KEYS_UNAVAILABLE = 2005  # auth_uk: the key backend (Redis) cannot be reached
    BAD_HTTP = 1400  # the HTTP request itself: a malformed head, too slow, an unknown coding
    UNAUTHORIZED = 1401
    FORBIDDEN = 1403
    RATE_LIMITED = 1429
    LINK_DOWN = 2001
    XMPP_TIMEOUT = 2002
    XMPP_ERROR = 2003
    OUTBOX_FULL = 2004
    OVERLOADED = 2006  # too many open connections, or the daemon is stopping
    SHARED_STATE_UNAVAILABLE = 2007  # [shared] Redis cannot be reached: keys, hosts, retries
    INTERNAL = 5000


class ApiError(Exception):
    """Base of every error that becomes an answer to a caller."""

    errcode: ClassVar[ErrCode] = ErrCode.INTERNAL
    http_status: ClassVar[int] = 500
    xmpp_condition: ClassVar[str] = "internal-server-error"
    xmpp_type: ClassVar[str] = "wait"

    def __init__(self, message: str, *, data: Any = None,
                 retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data
        self.retry_after = retry_after  # seconds, sent as Retry-After (503, 429)


class BadRequest(ApiError):
    errcode = ErrCode.BAD_FIELD
    http_status = 400
    xmpp_condition = "bad-request"
    xmpp_type = "modify"


class BadJson(BadRequest):
    errcode = ErrCode.BAD_JSON


class BadField(BadRequest):
    """A field is missing, has the wrong type or an invalid value; the message names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class BadStanza(BadRequest):
    errcode = ErrCode.BAD_STANZA


class DomainNotServed(BadRequest):
    errcode = ErrCode.DOMAIN_NOT_SERVED
    xmpp_condition = "not-allowed"
    xmpp_type = "cancel"


class TooLarge(ApiError):
    errcode = ErrCode.TOO_LARGE
    http_status = 413
    xmpp_condition = "policy-violation"
    xmpp_type = "modify"


class HeadTooLarge(TooLarge):
    """A request head over the server's limit (RFC 6585 §5)."""

    http_status = 431


class BadHttp(BadRequest):
    """The HTTP request itself is malformed: what llhttp or the server refuses in a head."""

    errcode = ErrCode.BAD_HTTP


class RequestTimeout(BadHttp):
    """A request's head and body did not arrive within `http.request_timeout`."""

    http_status = 408


class UnsupportedCoding(BadHttp):
    """A transfer coding other than chunked (RFC 9112 §6.1: 501)."""

    http_status = 501


class UnknownPath(ApiError):
    errcode = ErrCode.UNKNOWN_PATH
    http_status = 404
    xmpp_condition = "item-not-found"
    xmpp_type = "cancel"


class MethodNotAllowed(ApiError):
    errcode = ErrCode.METHOD_NOT_ALLOWED
    http_status = 405
    xmpp_condition = "not-allowed"
    xmpp_type = "cancel"


class NotFound(ApiError):
    errcode = ErrCode.NOT_FOUND
    http_status = 404
    xmpp_condition = "item-not-found"
    xmpp_type = "cancel"


class NoSuchUser(NotFound):
    """A recipient of a served domain has no account on the server (issue 17)."""

    errcode = ErrCode.NO_SUCH_USER


class Conflict(ApiError):
    errcode = ErrCode.CONFLICT
    http_status = 409
    xmpp_condition = "conflict"
    xmpp_type = "cancel"


class NotSupported(ApiError):
    errcode = ErrCode.NOT_SUPPORTED
    http_status = 501
    xmpp_condition = "feature-not-implemented"
    xmpp_type = "cancel"


class Unauthorized(ApiError):
    errcode = ErrCode.UNAUTHORIZED
    http_status = 401
    xmpp_condition = "not-authorized"
    xmpp_type = "auth"


class Forbidden(ApiError):
    errcode = ErrCode.FORBIDDEN
    http_status = 403
    xmpp_condition = "forbidden"
    xmpp_type = "auth"


class RateLimited(ApiError):
    errcode = ErrCode.RATE_LIMITED
    http_status = 429
    xmpp_condition = "policy-violation"
    xmpp_type = "wait"


class LinkDown(ApiError):
    """The component link is down and the request could not be kept for later."""

    errcode = ErrCode.LINK_DOWN
    http_status = 503
    xmpp_condition = "remote-server-timeout"
    xmpp_type = "wait"


class OutboxFull(ApiError):
    """The outbox holds as many messages as it may; the caller should retry later."""

    errcode = ErrCode.OUTBOX_FULL
    http_status = 503
    xmpp_condition = "resource-constraint"
    xmpp_type = "wait"


class Overloaded(ApiError):
    """Too many open connections, or the daemon is stopping: refused at once."""

    errcode = ErrCode.OVERLOADED
    http_status = 503
    xmpp_condition = "resource-constraint"
    xmpp_type = "wait"


class XmppTimeout(ApiError):
    errcode = ErrCode.XMPP_TIMEOUT
    http_status = 504
    xmpp_condition = "remote-server-timeout"
    xmpp_type = "wait"


class XmppError(ApiError):
    """The XMPP server answered an iq with an error; the condition is kept."""

    errcode = ErrCode.XMPP_ERROR
    http_status = 502
    xmpp_condition = "undefined-condition"
    xmpp_type = "cancel"

    def __init__(self, message: str, *, condition: str, text: str = "") -> None:
        super().__init__(f"{message}: {condition}" + (f" ({text})" if text else ""))
        self.condition = condition
        self.text = text


class InternalError(ApiError):
    """What every unexpected exception becomes on the wire, without internals."""


OUTBOX_FAILED = "the outbox could not be written"  # an InternalError's message


class AuthFailed(ApiError):
    """A user key (auth_uk) that does not check out; distinct from the caller's own
    credentials being refused (Unauthorized)."""

    errcode = ErrCode.AUTH_FAILED
    http_status = 401
    xmpp_condition = "not-authorized"
    xmpp_type = "auth"


class KeysUnavailable(ApiError):
    errcode = ErrCode.KEYS_UNAVAILABLE
    http_status = 503
    xmpp_condition = "service-unavailable"
    xmpp_type = "wait"


class SharedStateUnavailable(ApiError):
    """The state every daemon of a cluster shares ([shared] redis_url) cannot be reached: what
    needs it is refused for now, and a retry after a moment may succeed."""

    errcode = ErrCode.SHARED_STATE_UNAVAILABLE
    http_status = 503
    xmpp_condition = "service-unavailable"
    xmpp_type = "wait"
