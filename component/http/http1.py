"""The strict HTTP/1.1 subset the fast lane reads itself, and the answers it writes.

`parse_head` reads a request head whose extent is certain: `METHOD target HTTP/1.1`, at most
one decimal Content-Length, no Transfer-Encoding, Expect or Upgrade, no folded or oddly spaced
header lines. The fast lane serves such a request itself when it is a POST to a message
endpoint (`Head.plain`), and lends any other one to aiohttp, request by request. For
anything else `parse_head` returns None, and the connection is aiohttp's from then on: its
parser reads the same bytes and answers what is wrong with them, or serves them. So this
code never has to judge a doubtful request: it only recognises the common ones.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from http import HTTPStatus

MAX_HEAD_BYTES = 8190  # aiohttp's own limit on a request line or header block
_DIGITS = frozenset(b"0123456789")
_WAIT_CHARS = frozenset(b"0123456789.")
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                   b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# Headers that make a request's extent or its connection's future uncertain.
_NOT_PLAIN = frozenset({b"transfer-encoding", b"expect", b"upgrade"})


@dataclass(frozen=True, slots=True)
class Head:
    method: bytes
    path: bytes
    wait: str | None       # `?wait=N`, the one query the fast lane reads itself
    other_query: bool      # any other query: aiohttp's to read
    content_length: int
    keep_alive: bool
    authorization: str | None
    request_id: str
    idempotency_key: bool  # aiohttp's middleware stores and replays those

    @property
    def plain(self) -> bool:
        """A request the fast lane may serve itself (given a route for its path)."""
        return self.method == b"POST" and not self.other_query and not self.idempotency_key


def parse_head(head: bytes) -> Head | None:
    """The request head (without its final blank line), if its extent is certain."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[2] != b"HTTP/1.1" or not parts[0] \
            or not _TOKEN.issuperset(parts[0]) or not parts[1].startswith(b"/"):
        return None
    path, _, query = parts[1].partition(b"?")
    wait, other_query = None, False
    if query:
        name, _, value = query.partition(b"=")
        if name == b"wait" and value and _WAIT_CHARS.issuperset(value):
            wait = value.decode()
        else:
            other_query = True
    length = -1
    keep_alive = True
    authorization = None
    request_id = ""
    idempotency_key = False
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or not _TOKEN.issuperset(name):
            return None  # also obs-fold continuation lines, which start with a space
        name = name.lower()
        value = value.strip(b" \t")
        if name == b"content-length":
            if length >= 0 or not value or not _DIGITS.issuperset(value) or len(value) > 12:
                return None
            length = int(value)
        elif name in _NOT_PLAIN:
            return None
        elif name == b"connection":
            token = value.lower()
            if token == b"close":
                keep_alive = False
            elif token != b"keep-alive":
                return None
        elif name == b"authorization":
            if authorization is not None:
                return None
            authorization = value.decode("latin-1")
        elif name == b"x-request-id":
            request_id = value.decode("latin-1")
        elif name == b"idempotency-key":
            idempotency_key = True
    return Head(parts[0], path, wait, other_query, max(length, 0), keep_alive, authorization,
                request_id, idempotency_key)


class Answers:
    """Status lines, and the Date header recomputed once a second."""

    def __init__(self) -> None:
        self._status = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode()
                        for s in HTTPStatus}
        self._date_at = 0
        self._date = b""

    def encode(self, status: int, body: bytes, request_id: str,
               headers: dict[str, str] | None, *, keep_alive: bool) -> bytes:
        now = int(time.time())
        if now != self._date_at:
            self._date_at = now
            self._date = email.utils.formatdate(now, usegmt=True).encode()
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items()) \
            if headers else ""
        if not keep_alive:
            extra += "Connection: close\r\n"
        head = (f"Content-Type: application/json; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nX-Request-Id: {request_id}\r\n{extra}")
        line = self._status.get(status) or f"HTTP/1.1 {status} Unknown\r\n".encode()
        return b"".join((line, b"Date: ", self._date, b"\r\n", head.encode("latin-1"),
                         b"\r\n", body))
