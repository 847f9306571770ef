"""`ServerProcess`: a loopback server as a child process that says `READY <url>` (the reference
gateway, the fault-injecting provider), for the plugin and the self-tests.

A subprocess rather than a thread so the gateway's event loop, signal handling and crashes stay
out of pytest's process, and under xdist one gateway serves every worker. The child watches its
stdin (`loopback.watch_stdin`): when this process dies, the pipe closes and the gateway exits
with it. Where `GWC_SERVER_ZYGOTE` names a zygote (`servers.zygote`), the child is forked from it
instead of a fresh `python -m` (the server stack already imported), with the same promises.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

from conformance.contract.safe_yaml import load_document
from conformance.errors import ConformanceError
from conformance.servers.zygote_client import ZYGOTE_ENV, ForkedProcess, ZygoteUnavailable, spawn, stop_child

# How long a child that is still running may take to say READY. Only a hang should reach it: a
# child that exits fails at once, and on a loaded machine (CI beside other jobs, the kill matrix's
# parallel runs) importing the server stack alone took more than the 15 s this used to be.
START_TIMEOUT_S = 120.0

_Server = TypeVar("_Server", bound="ServerProcess")  # `start()` hands back the subclass it was called on


class ServerProcess:
    """Start / stop one child server: `.url`, `.config_path`, `.config` once started. Subclasses give
    `command()`; `env` is added to the child's environment; `before_start` / `after_stop` hook in."""

    what = "server"

    def __init__(self, host: str = "127.0.0.1", config_path: Path | None = None) -> None:
        self.env: dict[str, str] = {}
        self.host = host
        self._own_dir: Path | None = None
        if config_path is None:
            self._own_dir = Path(tempfile.mkdtemp(prefix="gwc-server-"))
            config_path = self._own_dir / "target.yaml"
        self.config_path = Path(config_path)
        self.url: str | None = None
        self.config: dict[str, Any] = {}
        self.process: subprocess.Popen[bytes] | ForkedProcess | None = None
        self._stderr: IO[bytes] | None = None
        self._ready = threading.Event()
        self._stdout_lines: list[str] = []

    def command(self) -> list[str]:
        raise NotImplementedError

    def before_start(self, timeout: float) -> None:
        """Runs before the child is spawned (e.g. start what it depends on)."""

    def after_stop(self, timeout: float) -> None:
        """Runs once the child is gone."""

    def start(self: _Server, timeout: float = START_TIMEOUT_S) -> _Server:
        """Spawn the gateway and wait for its READY line; a failure raises with its last stderr line."""
        if self.process is not None:
            raise ConformanceError(f"the {self.what} is already started")
        self.before_start(timeout)
        self._stderr = tempfile.TemporaryFile()
        self.process = self._spawn(self.command(), {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}, self._stderr)
        assert self.process.stdout is not None
        threading.Thread(target=self._read_stdout, args=(self.process.stdout,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.02):
            if self.process.poll() is not None or time.monotonic() > deadline:
                timed_out = self.process.poll() is None
                reason = self._last_stderr_line() or (f"no READY line within {timeout:g} s" if timed_out else "")
                status = "" if timed_out else f" (exit status {self.process.returncode})"
                self.stop()
                raise ConformanceError(f"the {self.what} did not start{status}: {reason or 'no output'}")
        self.config = load_document(self.config_path, f"{self.what} target config", ours=True)
        return self

    @staticmethod
    def _spawn(command: list[str], env: dict[str, str], stderr: IO[bytes]) -> subprocess.Popen[bytes] | ForkedProcess:
        """Fork it from the zygote `ZYGOTE_ENV` names (`servers.zygote`: the server stack already
        imported) when there is one and the command is `python -m …`; else, or when the zygote
        cannot, a fresh process as always. Either way the child's env travels out of sight of argv."""
        zygote = os.environ.get(ZYGOTE_ENV)
        if zygote:
            try:
                return spawn(zygote, command, env, stderr)
            except ZygoteUnavailable:
                pass
        return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env)

    def _read_stdout(self, stream: IO[bytes]) -> None:
        """Find READY, then keep draining so the child never blocks on a full pipe."""
        try:
            for raw in stream:
                line = raw.decode("utf-8", "replace").strip()
                if not self._ready.is_set() and line.startswith("READY "):
                    self.url = line.split(" ", 1)[1]
                    self._ready.set()
                elif len(self._stdout_lines) < 100:
                    self._stdout_lines.append(line)
        except (OSError, ValueError):  # the pipe was closed by stop()
            pass

    def _last_stderr_line(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        lines = [ln.strip() for ln in self._stderr.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        return lines[-1] if lines else ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 5) -> None:
        """Close stdin (the child exits by itself), then terminate, then kill."""
        process, self.process = self.process, None
        if process is not None:
            stop_child(process, min(1.0, timeout), timeout)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None
        self._ready.clear()
        self.after_stop(timeout)

    def __enter__(self: _Server) -> _Server:
        return self.start() if self.process is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
