"""An overall deadline per request, and bodies read with a cap — where the runner meets a hostile target.

Why: httpx's timeouts are per socket operation. A target that drips its status line or headers one
byte a second never trips a read timeout, and a gzip bomb is inflated a whole network chunk at a
time (64 KB of bomb can be hundreds of MB). So:

- `deadline_transport()` is an httpx transport whose sockets shorten every connect / read / write
  timeout to what is left of the deadline set by `within(seconds)` on this thread; past it the
  read raises the usual `httpx.ReadTimeout` (one `time.monotonic()` per socket read: no threads).
- `read_capped()` reads a streamed response up to a byte cap and the same deadline, inflating gzip
  and deflate itself with `max_length` so memory stays bounded by the cap, not by the bomb.
"""

from __future__ import annotations

import functools
import ssl
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from conformance.quarantine import wrap_network_backend
from conformance.transport import wire_tap

_local = threading.local()


class DeadlineExceeded(Exception):
    """The response (headers or body) did not arrive within the overall deadline."""


@contextmanager
def within(seconds: float) -> Iterator[float]:
    """Every socket operation on this thread, inside the block, ends by now + seconds."""
    previous = getattr(_local, "deadline", None)
    _local.deadline = time.monotonic() + seconds
    try:
        yield _local.deadline
    finally:
        _local.deadline = previous


def _left(timeout: float | None, exc: type[Exception]) -> float | None:
    deadline: float | None = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise exc("overall deadline exceeded")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))
        wire_tap.saw(self._stream, data)  # what a response had delivered, for `GatewayClient.stream_until`
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        return _Stream(self._backend.connect_tcp(host, port, _left(timeout, httpcore.ConnectTimeout),
                                                 local_address=local_address, socket_options=socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        return _Stream(self._backend.connect_unix_socket(path, _left(timeout, httpcore.ConnectTimeout),
                                                         socket_options=socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


@functools.lru_cache(maxsize=1)
def shared_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every client of the run: each new one loads the CA bundle
    again (~50 ms of CPU), and a run makes a client per SDK call."""
    return httpx.create_ssl_context()


def deadline_transport(**kwargs: Any) -> httpx.HTTPTransport:
    """An `httpx.HTTPTransport` honouring `within()`. If httpcore's layout ever changes, the plain
    transport is returned: per-operation timeouts and the body deadline still hold."""
    kwargs.setdefault("verify", shared_ssl_context())
    transport = httpx.HTTPTransport(**kwargs)
    wrap_network_backend(transport, _Backend)
    return transport


def read_capped(response: httpx.Response, cap: int, deadline: float) -> tuple[bytes, bool]:
    """(body, truncated): at most `cap` decoded bytes; `DeadlineExceeded` past `deadline`."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _inflate_capped(response, encoding, cap, deadline)
    buffer = bytearray()
    for chunk in response.iter_bytes():
        buffer += chunk
        if len(buffer) > cap:
            return bytes(buffer[:cap]), True
        if time.monotonic() > deadline:
            raise DeadlineExceeded
    return bytes(buffer), False


def _inflate_capped(response: httpx.Response, encoding: str, cap: int, deadline: float) -> tuple[bytes, bool]:
    wbits = zlib.MAX_WBITS | 16 if "gzip" in encoding else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    buffer = bytearray()
    try:
        for raw in response.iter_raw():
            data = raw
            while data:
                buffer += inflater.decompress(data, cap + 1 - len(buffer))
                if len(buffer) > cap:
                    return bytes(buffer[:cap]), True
                data = inflater.unconsumed_tail
            if time.monotonic() > deadline:
                raise DeadlineExceeded
            if inflater.eof:
                break
        buffer += inflater.flush()
    except zlib.error as exc:
        raise httpx.DecodingError(f"cannot inflate the {encoding} body: {exc}") from None
    return bytes(buffer[:cap]), len(buffer) > cap


class CappedTransport(httpx.BaseTransport):
    """For an `httpx.Client` we hand to code we do not control (the openai SDK): every response is
    read here, within the deadline and `cap` decoded bytes, before that code sees it. Otherwise a
    gzip bomb or a 10 GB body would be inflated whole by the SDK's own `response.read()`."""

    def __init__(self, cap: int, timeout_s: float, **kwargs: Any) -> None:
        self.cap = cap
        self.timeout_s = timeout_s
        self._inner = deadline_transport(**kwargs)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with within(self.timeout_s):
            response = self._inner.handle_request(request)
            try:
                raw = httpx.Response(response.status_code, headers=response.headers, stream=response.stream,
                                     request=request)
                body, _ = read_capped(raw, self.cap, time.monotonic() + self.timeout_s)
            finally:
                response.close()
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        return httpx.Response(response.status_code, headers=headers, content=body, request=request,
                              extensions=response.extensions)

    def close(self) -> None:
        self._inner.close()
