"""The strict HTTP/1.1 subset the fast lane reads itself, and the answers it writes.

Only the plainest request is read here: `POST <path>[?wait=N] HTTP/1.1`, a single decimal
Content-Length, no Transfer-Encoding, Expect, Upgrade or Idempotency-Key, no folded or
oddly spaced header lines. `parse_head` returns None for anything else, and the connection
is handed to aiohttp, whose parser reads the same bytes and answers what is wrong with them
(or serves them). So this code never has to judge a doubtful request: it only recognises
the common one.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from http import HTTPStatus

MAX_HEAD_BYTES = 8190  # aiohttp's own limit on a request line or header block
_DIGITS = frozenset(b"0123456789")
_WAIT_CHARS = frozenset(b"0123456789.")
# Headers whose presence means a request is not the plain kind (aiohttp serves those).
_NOT_PLAIN = frozenset({b"transfer-encoding", b"expect", b"upgrade", b"idempotency-key"})


@dataclass(frozen=True, slots=True)
class Head:
    path: bytes
    wait: str | None
    content_length: int
    keep_alive: bool
    authorization: str | None
    request_id: str


def parse_head(head: bytes) -> Head | None:
    """The request head (without its final blank line), if it is a plain POST."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[0] != b"POST" or parts[2] != b"HTTP/1.1":
        return None
    path, _, query = parts[1].partition(b"?")
    wait = None
    if query:
        name, _, value = query.partition(b"=")
        if name != b"wait" or not value or not _WAIT_CHARS.issuperset(value):
            return None
        wait = value.decode()
    length = -1
    keep_alive = True
    authorization = None
    request_id = ""
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip() or b" " in name or b"\t" in name:
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
    if length < 0:
        return None
    return Head(path, wait, length, keep_alive, authorization, request_id)


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
