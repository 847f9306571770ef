"""A loopback TCP proxy that holds the first byte of each response N ms: a gateway "N ms away".

Why: a real staging gateway is 50-500 ms from the machine that certifies it, and a suite that sends
its requests one after another pays that on each. This measures it without leaving loopback:
`python -m bench.latency_proxy --upstream http://127.0.0.1:PORT --delay-ms 150` prints
`READY http://127.0.0.1:PROXYPORT` and forwards every connection. Whenever the client has sent
bytes since the last response started, the next bytes from the upstream wait `delay` first (one
round trip per request, keep-alive and WebSocket upgrades included). Bodies are not parsed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading
from urllib.parse import urlsplit


class LatencyProxy:
    """`with LatencyProxy(upstream_url, delay_s) as proxy: proxy.url` (a thread with its own loop)."""

    def __init__(self, upstream: str, delay_s: float, host: str = "127.0.0.1") -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.delay_s = delay_s
        self.host = host
        self.url = ""
        self.connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    async def _pipe_up(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pending: asyncio.Event) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                pending.set()
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.write_eof()

    async def _pipe_down(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pending: asyncio.Event) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if pending.is_set():
                    pending.clear()
                    await asyncio.sleep(self.delay_s)
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        except OSError:
            client_writer.close()
            return
        pending = asyncio.Event()
        await asyncio.gather(self._pipe_up(client_reader, up_writer, pending),
                             self._pipe_down(up_reader, client_writer, pending), return_exceptions=True)
        for w in (up_writer, client_writer):
            with contextlib.suppress(Exception):
                w.close()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._server = loop.run_until_complete(asyncio.start_server(self._handle, self.host, 0))
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://{self.host}:{port}"
        self._ready.set()
        with contextlib.suppress(Exception):
            loop.run_forever()
        self._server.close()
        loop.close()

    def start(self) -> "LatencyProxy":
        self._thread = threading.Thread(target=self._run, name="latency-proxy", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> "LatencyProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency_proxy", description=__doc__)
    parser.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT of the gateway")
    parser.add_argument("--delay-ms", type=float, default=150.0)
    args = parser.parse_args(argv)
    if urlsplit(args.upstream).hostname not in ("127.0.0.1", "::1", "localhost"):
        parser.error("--upstream must be a loopback address")
    proxy = LatencyProxy(args.upstream, args.delay_ms / 1000).start()
    print(f"READY {proxy.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.read()  # runs until stdin closes
    proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
