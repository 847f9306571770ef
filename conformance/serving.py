"""What every server the suite starts itself shares (the reference gateway, the fault-injecting
provider): a loopback-only listening socket, a uvicorn server that says when it accepts
connections, and a watch on stdin so the child dies with its parent even when the parent is killed."""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable

import uvicorn

from conformance.errors import ConfigError

LOOPBACK_HOSTS = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "::1": "::1"}


def loopback_address(host: str, server: str) -> str:
    """The address to bind for `host`; anything but loopback is refused (`server` is a test fixture)."""
    address = LOOPBACK_HOSTS.get(host.strip().strip("[]").lower())
    if address is None:
        raise ConfigError(f"refusing to serve on {host!r}: the {server} binds loopback only (127.0.0.1, ::1, localhost)")
    return address


def bind(address: str, port: int, *, inheritable: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot bind {address} port {port}: {exc.strerror or exc}") from None
    sock.listen(1024)
    if inheritable:
        sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class ReadyServer(uvicorn.Server):
    """uvicorn server that calls `on_ready` once it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self._on_ready()


def watch_stdin() -> None:
    """Exit the whole process at stdin EOF: the parent closed our pipe or died."""

    def wait() -> None:
        try:
            while sys.stdin.buffer.read(65536):
                pass
        finally:
            os._exit(0)

    threading.Thread(target=wait, name="stdin-eof", daemon=True).start()
