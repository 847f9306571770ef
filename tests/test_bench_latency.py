"""`python -m bench`'s latency case: the proxy holds each response's first byte, on every request
of a keep-alive connection, and passes the bytes through unchanged."""

from __future__ import annotations

import gc
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from bench.latency import DelayProxy

DELAY_S = 0.2


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: both requests go over one connection

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


# A connection left open when the proxy stops is ended on its loop, not closed later on a closed one.
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_each_response_waits_and_arrives_whole() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with DelayProxy("127.0.0.1", server.server_address[1], DELAY_S) as proxy, \
                httpx.Client(base_url=proxy.url, trust_env=False, timeout=60) as client:
            answers = [client.post("/echo", content=f"body {i}".encode() * 1000) for i in range(2)]
    finally:
        server.shutdown()
        server.server_close()
    gc.collect()  # a connection task the proxy left behind is finalised here, inside the test
    assert [a.content for a in answers] == [f"body {i}".encode() * 1000 for i in range(2)]
    # A lower bound only: the proxy waits at least DELAY_S per response, however busy the machine.
    assert all(a.elapsed.total_seconds() >= DELAY_S for a in answers), [a.elapsed for a in answers]
    assert proxy.responses == 2
