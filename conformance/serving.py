"""What every server the suite starts itself shares (the reference gateway, the fault-injecting
provider): a uvicorn server that says when it accepts connections, and a watch on stdin so the
child dies with its parent even when the parent is killed."""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable

import uvicorn


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
