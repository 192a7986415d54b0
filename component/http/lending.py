"""Lending a fast-lane connection to aiohttp: for one request, or for good.

aiohttp's request handler is an asyncio protocol; it is given a `LentTransport` that writes
to the real socket. Lent for one request (its extent known from its head), the handler gets
exactly that request's bytes, and the answer it writes is followed through its Content-Length
to its last byte; then the connection comes back to the fast lane, so a client that mixes
endpoints on its pooled connections keeps the fast lane for its messages. Lent for good (a
request whose extent the fast lane will not judge), the handler gets everything from then on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class LentTransport(asyncio.Transport):
    """The real transport as aiohttp's handler sees it."""

    def __init__(self, real: asyncio.Transport, *, head_request: bool, watch: bool,
                 answered: Callable[[], None], untold: Callable[[], None],
                 closed: Callable[[], None]) -> None:
        super().__init__()
        self._real = real
        self._answered, self._untold, self._closed = answered, untold, closed
        self._watching = watch
        self._head_request = head_request
        self._answer_head = bytearray()
        self._left: int | None = None  # body bytes of the answer still to come
        self.returned = False           # the connection is the fast lane's again

    # -- what aiohttp uses ---------------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._real.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self.returned or self._real.is_closing()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.returned:
            return
        self._real.write(data)
        if self._watching:
            self._follow(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def close(self) -> None:
        if not self.returned:
            self.returned = True
            self._closed()

    def abort(self) -> None:
        self.close()

    def pause_reading(self) -> None:
        if not self.returned:
            self._real.pause_reading()

    def resume_reading(self) -> None:
        if not self.returned:
            self._real.resume_reading()

    def is_reading(self) -> bool:
        return self._real.is_reading()

    def get_write_buffer_size(self) -> int:
        return self._real.get_write_buffer_size()

    # -- following the answer --------------------------------------------------------------

    def _follow(self, data: bytes) -> None:
        if self._left is None:
            self._answer_head += data
            end = self._answer_head.find(b"\r\n\r\n")
            if end < 0:
                return
            length = _content_length(bytes(self._answer_head[:end]))
            if length is None:  # not an answer whose end can be told: aiohttp keeps it
                self._watching = False
                asyncio.get_running_loop().call_soon(self._untold)  # not inside its write
                return
            body_seen = len(self._answer_head) - end - 4
            self._left = (0 if self._head_request else length) - body_seen
        else:
            self._left -= len(data)
        if self._left <= 0:
            self._watching = False
            asyncio.get_running_loop().call_soon(self._answered)


def _content_length(head: bytes) -> int | None:
    lines = head.split(b"\r\n")
    if lines[0][9:10] == b"1":  # an interim 1xx answer: a final one follows
        return None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return None
