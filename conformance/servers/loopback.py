"""Serving on loopback, the same way for every server the suite starts itself (the reference
gateway, the fault-injecting provider): bind loopback only, write the config atomically, say
`READY <url>` once uvicorn accepts connections, and die with the parent at stdin EOF.

The order is the contract with `ServerProcess`: the socket is bound first (port 0 → a free port,
no race between choosing and binding), the config is written, and only once uvicorn accepts
connections is exactly one line `READY <url>` printed on stdout.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from conformance.errors import ConfigError

LOOPBACK_HOSTS = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "::1": "::1"}


def address(host: str, what: str) -> str:
    """The address to bind for `host`; anything but loopback is refused (`what` is a test fixture)."""
    address = LOOPBACK_HOSTS.get(host.strip().strip("[]").lower())
    if address is None:
        raise ConfigError(f"refusing to serve on {host!r}: the {what} binds loopback only (127.0.0.1, ::1, localhost)")
    return address


def bind(address: str, port: int) -> socket.socket:
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
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def write_yaml(path: Path, document: dict[str, Any]) -> None:
    """Atomically, owner-only: the file holds live keys, and a reader must never see half of it."""
    import yaml

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        os.unlink(tmp)  # a leftover of a crashed run; O_EXCL below never follows a planted link
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        yaml.safe_dump(document, handle, sort_keys=False, default_flow_style=False)
    os.replace(tmp, path)


def say_ready(url: str) -> None:
    """The one line a parent process waits for."""
    sys.stdout.write(f"READY {url}\n")
    sys.stdout.flush()


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

