"""What a response had already delivered to this machine at a given moment, whatever the client's speed.

Why: CHG-5 cuts a stream and asks what the gateway had delivered by then. Counting only the events
the client had parsed makes a starved client (a loaded machine) look like a gateway still sending:
events it had already sent sit unread in httpcore's parser (h11 holds a whole socket read and hands
out one chunk at a time) and in the kernel's receive buffer. Counted here: every byte the client has
read from the socket for the request (a tap on `deadline._Stream.read`, on this thread, inside
`tapping()`), plus the bytes waiting in the kernel's receive buffer at the moment of the snapshot
(`recv(MSG_PEEK | MSG_DONTWAIT)` on a duplicate of the socket), de-framed (HTTP/1.1 chunked or
Content-Length, gzip/deflate inflated) into the body delivered so far. Load can only make that body
longer, never shorter. Over TLS the kernel holds ciphertext: only what the client read counts.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

_local = threading.local()
# The most bytes one snapshot peeks at (a receive buffer is rarely larger; evidence stays bounded).
PEEK_BYTES = 4 * 1_048_576


@dataclass
class Tap:
    """The bytes this thread read from the network while tapping, and the stream they came from."""

    wire: bytearray = field(default_factory=bytearray)
    stream: Any = None  # the httpcore network stream last read from

    def restart(self) -> None:
        """Forget a failed attempt: the request goes again on a new connection."""
        self.wire.clear()
        self.stream = None


@dataclass(frozen=True)
class Delivered:
    """The body as far as it had reached this machine (read or waiting in buffers) at one moment.
    `whole`: the message's end was there too. `peeked`: the kernel's buffer could be looked at (not
    over TLS), so the body is complete as of that moment, not only what the client had read."""

    body: bytes
    whole: bool
    peeked: bool


@contextmanager
def tapping() -> Iterator[Tap]:
    """Record every byte read from the network on this thread inside the block (one request)."""
    previous = getattr(_local, "tap", None)
    tap = _local.tap = Tap()
    try:
        yield tap
    finally:
        _local.tap = previous


def saw(stream: Any, data: bytes) -> None:
    """Called by the transport's network stream with every read (a no-op unless tapping)."""
    tap: Tap | None = getattr(_local, "tap", None)
    if tap is not None:
        tap.wire += data
        tap.stream = stream


def buffered(stream: Any) -> tuple[bytes, bool, bool]:
    """(the bytes waiting in the kernel's receive buffer of `stream`'s socket, whether it could be
    looked at, whether the peer had closed its side), read without taking them and without waiting."""
    sock = stream.get_extra_info("socket") if stream is not None else None
    if not isinstance(sock, socket.socket) or isinstance(sock, ssl.SSLSocket):
        return b"", False, False
    try:
        # A duplicate descriptor: its own (blocking, no timeout) Python socket, so MSG_DONTWAIT alone
        # decides and httpcore's socket keeps its timeout.
        with socket.socket(fileno=os.dup(sock.fileno())) as twin:
            waiting = twin.recv(PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return b"", True, False
    except OSError:
        return b"", False, False
    return waiting, True, not waiting


def snapshot(tap: Tap, headers: httpx.Headers) -> Delivered | None:
    """What the tapped response had delivered by now (read plus buffered), or None when the wire
    cannot be de-framed (nothing tapped, an encoding we do not inflate)."""
    waiting, peeked, eof = buffered(tap.stream)
    return delivered_body(bytes(tap.wire) + waiting, headers, peeked=peeked, eof=eof)


def delivered_body(wire: bytes, headers: httpx.Headers, *, peeked: bool, eof: bool = False) -> Delivered | None:
    """De-frame a prefix of one HTTP/1.1 response (`wire`: status line onwards) into its body so far."""
    start = _body_start(wire)
    if start is None:
        return None
    raw = wire[start:]
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body, whole = _dechunk(raw)
    elif (length := headers.get("content-length", "").strip()).isdigit():
        body, whole = raw[: int(length)], len(raw) >= int(length)
    else:
        body, whole = raw, eof
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16 if "gzip" in encoding else zlib.MAX_WBITS)
        try:
            body = inflater.decompress(body, PEEK_BYTES)
        except zlib.error:
            return None
    elif encoding not in ("", "identity"):
        return None
    return Delivered(body, whole, peeked)


def _body_start(wire: bytes) -> int | None:
    """Where the body starts: after the final (non-1xx) response's header block."""
    at = 0
    while True:
        end = wire.find(b"\r\n\r\n", at)
        if end < 0:
            return None
        status = wire[at: at + 12].split(b" ")
        if len(status) > 1 and status[1][:1] == b"1" and status[1] != b"101":
            at = end + 4  # an interim 1xx response: the real one follows
            continue
        return end + 4


def _dechunk(raw: bytes) -> tuple[bytes, bool]:
    """The data of the chunks present in `raw` (the last one possibly partial), and whether the
    last-chunk (size 0) was there."""
    body = bytearray()
    at = 0
    while True:
        line_end = raw.find(b"\r\n", at)
        if line_end < 0:
            return bytes(body), False
        size_text = raw[at:line_end].split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return bytes(body), False
        if size == 0:
            return bytes(body), True
        data_start = line_end + 2
        body += raw[data_start: data_start + size]
        if data_start + size + 2 > len(raw):
            return bytes(body), False
        at = data_start + size + 2
