"""CHG-5 counts what a gateway had delivered when the client cut, not only what the client had parsed.

A real HTTP/1.1 server on loopback sends the same 16-event chunked SSE stream either at once or
paced; the client cuts after the first content event. Sent at once, every event had reached this
machine (httpcore's parser or the kernel's receive buffer) by the cut, however late the client:
CHG-5 is inconclusive. Paced, most were still unsent: CHG-5 judges the cut.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from conformance.billing.cut_stream import (
    MIN_UNDELIVERED,
    Timing,
    cannot_judge,
    content_events,
    cut_stream,
    delivered_events,
    timed_stream,
)
from conformance.transport.client import GatewayClient
from conformance.transport.wire_tap import delivered_body

EVENTS = 16


def _events() -> list[bytes]:
    chunks = [{"choices": [{"index": 0, "delta": {"content": f"w{i} "}}]} for i in range(EVENTS)]
    return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _serve(conn: socket.socket, pace_s: float) -> None:
    try:
        conn.settimeout(10)
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(65536)
        head, _, rest = request.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0)
        while len(rest) < length:
            rest += conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
                     b"connection: close\r\n\r\n")
        if not pace_s:  # the whole stream in one write: all of it delivered before any client's cut
            conn.sendall(b"".join(_chunk(e) for e in _events()) + b"0\r\n\r\n")
            time.sleep(0.5)  # keep the connection open: the client cuts, not the server
            return
        for event in _events():
            conn.sendall(_chunk(event))
            time.sleep(pace_s)
        conn.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the client's cut
    finally:
        conn.close()


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, float]]]:
    listener = socket.create_server(("127.0.0.1", 0))
    settings = {"pace_s": 0.0}

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=_serve, args=(conn, settings["pace_s"]), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", settings
    finally:
        listener.close()


def _cut_and_full(url: str) -> tuple[int, int, int, bool, Timing | None]:
    client = GatewayClient(url, timeout_s=10)
    try:
        body = {"model": "m", "stream": True}
        cut = cut_stream(client, "/v1/chat/completions", api_key="sk-test-000000000000000001", json=body)
        full, timing = timed_stream(client, "/v1/chat/completions", api_key="sk-test-000000000000000001", json=body)
    finally:
        client.close()
    assert cut.status == 200 and full.status == 200 and content_events(full.body) == EVENTS
    assert content_events(cut.body) >= 1
    whole = full.delivered is not None and full.delivered.whole
    return delivered_events(cut), EVENTS, delivered_events(full), whole, timing


def test_a_stream_sent_at_once_is_counted_delivered_and_inconclusive(server) -> None:
    url, settings = server
    settings["pace_s"] = 0.0
    delivered, events_full, at_first, whole, timing = _cut_and_full(url)
    # The client parsed one event before cutting; the other 15 were already in its buffers.
    assert delivered == EVENTS and at_first == EVENTS and whole
    assert cannot_judge(delivered, events_full, at_first, whole, timing) is not None


def test_a_paced_stream_is_judged(server) -> None:
    url, settings = server
    settings["pace_s"] = 0.1  # slow on purpose: a loaded client still cuts long before the end
    delivered, events_full, at_first, whole, timing = _cut_and_full(url)
    assert events_full - delivered >= MIN_UNDELIVERED and events_full - at_first >= MIN_UNDELIVERED and not whole
    assert timing is not None and timing.flowing_s >= 1.0
    # Load stretches the start no more than it stretches the flow (a ~1.5 s paced stream).
    assert cannot_judge(delivered, events_full, at_first, whole, Timing(0.01, timing.flowing_s)) is None


def test_a_relayed_stream_no_slower_than_its_start_is_inconclusive() -> None:
    assert cannot_judge(1, 16, 1, False, Timing(starting_s=0.2, flowing_s=0.3)) is not None
    assert cannot_judge(1, 16, 1, False, Timing(starting_s=0.05, flowing_s=0.3)) is None
    assert cannot_judge(1, 16, 1, False, Timing(starting_s=0.01, flowing_s=0.05)) is not None


def test_the_wire_is_deframed_even_cut_mid_chunk() -> None:
    events = _events()
    wire = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            + b"".join(_chunk(e) for e in events[:3]) + _chunk(events[3])[:20])
    got = delivered_body(wire, httpx.Headers({"transfer-encoding": "chunked"}), peeked=True)
    assert got is not None and content_events(got.body) == 3 and not got.whole
    whole = delivered_body(wire[: wire.rindex(_chunk(events[3])[:20])] + b"0\r\n\r\n",
                           httpx.Headers({"transfer-encoding": "chunked"}), peeked=True)
    assert whole is not None and whole.whole and content_events(whole.body) == 3
