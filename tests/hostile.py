"""A hostile HTTP target on loopback: the runner must survive it (self-tests only).

Each `HostileServer(mode)` answers every request the same hostile way (`probe_ok=True` answers
`GET /v1/models` normally, so the run gets past the reachability probe and meets the hostility in
the tests). A `Recorder` on another loopback host (127.0.0.2) keeps the headers it receives, to
prove a redirect was never followed with credentials.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from functools import lru_cache

TEN_GB = 10 * 1024**3
MODES = ("silent", "drip", "huge_length", "gzip_bomb", "not_json", "bad_utf8", "huge_header", "mid_body", "redirect")


@lru_cache(maxsize=1)
def gzip_bomb(size: int = 200 * 1024**2) -> bytes:
    """`size` zero bytes, gzipped (~200 KB on the wire for 200 MB inflated)."""
    chunk = b"\0" * (1024**2)
    out = bytearray()
    import zlib

    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    for _ in range(size // len(chunk)):
        out += compressor.compress(chunk)
    out += compressor.flush()
    return bytes(out)


def _response(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def read_request(conn: socket.socket) -> tuple[str, str, bytes] | None:
    """(method, path, raw head) of one request; the body (by Content-Length) is read and dropped."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > 1_000_000:
            return None
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    method, path = head.split(b"\r\n")[0].decode("latin-1").split(" ")[:2]
    return method, path, head


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class HostileServer:
    def __init__(self, mode: str, host: str = "127.0.0.1", probe_ok: bool = False, redirect_to: str = "") -> None:
        assert mode in MODES or mode == "record", mode
        self.mode, self.probe_ok, self.redirect_to = mode, probe_ok, redirect_to
        self.seen: list[bytes] = []  # raw request heads
        self._stop = threading.Event()
        if mode == "gzip_bomb":
            gzip_bomb()  # built before serving: building it takes longer than a probe waits
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                try:
                    outer._handle(self.request)
                except OSError:
                    pass

        self._server = _Server((host, 0), Handler)
        self.host, self.port = self._server.server_address[:2]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, conn: socket.socket) -> None:
        request = read_request(conn)
        if request is None:
            return
        method, path, head = request
        self.seen.append(head)
        json_headers = {"Content-Type": "application/json", "Connection": "close"}
        if self.mode == "record" or (self.probe_ok and method == "GET" and path.startswith("/v1/models")):
            body = b'{"object": "list", "data": []}'
            conn.sendall(_response("200 OK", {**json_headers, "Content-Length": str(len(body))}, body))
            return
        if self.mode == "silent":
            self._stop.wait(120)
        elif self.mode == "drip":
            for byte in _response("200 OK", {**json_headers, "Content-Length": "2"}, b"{}"):
                if self._stop.wait(1.0):
                    return
                conn.sendall(bytes([byte]))
        elif self.mode == "huge_length":
            conn.sendall(_response("500 Internal Server Error", {**json_headers, "Content-Length": str(TEN_GB)}))
            zeros = b"0" * 65536
            for _ in range(2000):  # 128 MB at most, then give up: the client should have hung up long before
                if self._stop.is_set():
                    return
                conn.sendall(zeros)
        elif self.mode == "gzip_bomb":
            bomb = gzip_bomb()
            conn.sendall(_response("400 Bad Request", {**json_headers, "Content-Encoding": "gzip",
                                                       "Content-Length": str(len(bomb))}, bomb))
        elif self.mode == "not_json":
            body = b"<html><body>401 Unauthorized</body></html>"
            conn.sendall(_response("401 Unauthorized", {"Content-Type": "text/html", "Connection": "close",
                                                        "Content-Length": str(len(body))}, body))
        elif self.mode == "bad_utf8":
            body = b'{"error": {"message": "\xff\xfe bad \xc3\x28", "type": "\xe2\x28\xa1", "code": null}}'
            conn.sendall(_response("401 Unauthorized", {**json_headers, "Content-Length": str(len(body))}, body))
        elif self.mode == "huge_header":
            body = b"{}"
            conn.sendall(_response("401 Unauthorized", {**json_headers, "X-Junk": "a" * 1024**2,
                                                        "Content-Length": str(len(body))}, body))
        elif self.mode == "mid_body":
            conn.sendall(_response("401 Unauthorized", {**json_headers, "Content-Length": "500"}, b'{"error": {"mess'))
            time.sleep(0.05)
        elif self.mode == "redirect":
            conn.sendall(_response("307 Temporary Redirect", {"Location": self.redirect_to + path,
                                                              "Content-Length": "0", "Connection": "close"}))
