"""The parent side of the zygote (`conformance.servers.zygote`): start one (`Zygote`), and start a
child through it (`spawn` → `ForkedProcess`, a handle shaped like `subprocess.Popen`).

Why: every suite run starts a reference gateway and a provider, and a fresh `python -m` spends
most of its start re-importing the same server stack (~1 CPU-s a run, ~240 CPU-s a self-test
session). A zygote imports it once and forks a child per start. `ServerProcess` asks for one only
when `ZYGOTE_ENV` names its socket, and falls back to `Popen` whenever the zygote cannot serve:
the optimisation never fails a run.

Protocol, on a `SOCK_SEQPACKET` Unix socket in a private (0700) directory, one JSON message each
way per step: the client sends `{"executable": ..., "argv": ["-m", module, *args], "env": {...},
"cwd": "..."}` (refused unless the zygote runs that very interpreter) with
the child's stdin, stdout and stderr as SCM_RIGHTS fds; the zygote answers `{"pid": N}` (or
`{"error": "..."}`), and once it has reaped the child `{"status": returncode, "cpu_s": x}` (Popen's
convention: negative for a signal). `{"signal": N}` asks it to signal the child it has not yet
reaped (no pid-reuse race); `{"stats": true}` on a fresh connection answers the number of children
forked and their CPU seconds. The environment, with any credential in it, travels only over this
socket: never in argv, never in a log.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

ZYGOTE_ENV = "GWC_SERVER_ZYGOTE"  # the socket path of a running zygote, for `ServerProcess`
ZYGOTE_MODULE = "conformance.servers.zygote"
# What a zygote imports once for every child: the two servers' start-up stacks, by name (the
# servers layer never imports reference/ or provider/; see pyproject's import-linter contracts).
# Not `websockets`: it reads WEBSOCKETS_MAX_LINE_LENGTH at import, which the reference's __main__
# sets first; a module that reads the environment at import must stay out of a preload.
SERVER_PRELOAD = ("conformance.reference.startup", "conformance.provider.startup")
MAX_MESSAGE = 1 << 20  # a request carries the child's whole environment
START_TIMEOUT_S = 120.0  # a hang guard only, like ServerProcess's: imports on a loaded machine are slow

# CPU seconds of zygote children whose exit this process has read (their own CPU, which
# RUSAGE_CHILDREN no longer sees: the zygote reaped them, not us). For the kill matrix's per-run cost.
_reaped_cpu_s = 0.0
_reaped_lock = threading.Lock()


def reaped_cpu_s() -> float:
    """CPU seconds of every zygote child this process saw exit (see `ForkedProcess.cpu_s`)."""
    return _reaped_cpu_s


def encode(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def decode(data: bytes) -> dict[str, Any]:
    message = json.loads(data.decode())
    if not isinstance(message, dict):
        raise ValueError("a zygote message is a JSON object")
    return message


def module_command(command: Sequence[str]) -> list[str] | None:
    """`["-m", module, *args]` when `command` is this interpreter's `python -m module …` (what a
    zygote can fork), else None."""
    if len(command) >= 3 and command[0] == sys.executable and command[1] == "-m":
        return list(command[1:])
    return None


def stop_child(process: Any, grace: float, timeout: float) -> None:
    """End a child that exits when its stdin closes (a `Popen` or a `ForkedProcess`): close stdin
    and wait `grace` seconds, then terminate and wait `timeout`, then kill; close its stdout."""
    try:
        if process.stdin:
            process.stdin.close()
        process.wait(timeout=grace)
    except (OSError, subprocess.TimeoutExpired):
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout:
        process.stdout.close()


class ZygoteUnavailable(OSError):
    """The zygote could not start this child (gone, refused, or no answer): use Popen instead."""


class ForkedProcess:
    """A child forked by a zygote, driven like `subprocess.Popen`: `pid`, `stdin`, `stdout`,
    `returncode`, `poll()`, `wait(timeout)`, `terminate()`, `kill()`; `cpu_s` once it has exited.

    The exit status comes from the zygote, which reaped the child. Should the zygote die first,
    the handle falls back to the child's pidfd: it still sees the exit (status 255, unknown) and
    signals the right process."""

    def __init__(self, args: Sequence[str], conn: socket.socket, pid: int, stdin: IO[bytes], stdout: IO[bytes]) -> None:
        self.args = list(args)
        self.pid = pid
        self.stdin: IO[bytes] | None = stdin
        self.stdout: IO[bytes] | None = stdout
        self.stderr: IO[bytes] | None = None
        self.returncode: int | None = None
        self.cpu_s = 0.0
        self._conn: socket.socket | None = conn
        self._lock = threading.RLock()
        self._pidfd: int | None = None
        with contextlib.suppress(AttributeError, OSError):  # Linux ≥ 5.3; else os.kill(pid, 0) below
            self._pidfd = os.pidfd_open(pid)

    def _watched(self) -> int | None:
        """The fd whose readability means news: the zygote connection, else the pidfd."""
        if self._conn is not None:
            return self._conn.fileno()
        return self._pidfd

    def _read_news(self) -> None:
        """Consume what `_watched` says is ready (call with the lock held)."""
        if self._conn is not None:
            try:
                data = self._conn.recv(MAX_MESSAGE)
            except OSError:
                data = b""
            if data:
                message = decode(data)
                if "status" in message:
                    self._exited(int(message["status"]), float(message.get("cpu_s", 0.0)))
                return
            self._conn.close()  # the zygote is gone without telling: watch the pid itself
            self._conn = None
            self._check_pid()
            return
        self._check_pid()

    def _check_pid(self) -> None:
        if self._pidfd is not None:
            if select.select([self._pidfd], [], [], 0)[0]:
                self._exited(255, 0.0)
            return
        try:
            os.kill(self.pid, 0)
        except (ProcessLookupError, PermissionError):  # gone (or reaped, the pid reused by another user)
            self._exited(255, 0.0)

    def _exited(self, status: int, cpu_s: float) -> None:
        global _reaped_cpu_s
        self.returncode, self.cpu_s = status, cpu_s
        with _reaped_lock:
            _reaped_cpu_s += cpu_s
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def poll(self) -> int | None:
        with self._lock:
            if self.returncode is None:
                watched = self._watched()
                if watched is None or select.select([watched], [], [], 0)[0]:
                    self._read_news()
            return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if self.poll() is not None:
                    assert self.returncode is not None
                    return self.returncode
                watched = self._watched()
            left = 0.05 if deadline is None else deadline - time.monotonic()
            if deadline is not None and left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            # No fd to watch (no pidfd, zygote gone): poll the pid every 50 ms. An fd another
            # thread's poll() closed meanwhile: the next poll() above has the status.
            with contextlib.suppress(OSError, ValueError):
                select.select([watched] if watched is not None else [], [], [],
                              min(left, 0.05) if watched is None else left)

    def send_signal(self, sig: int) -> None:
        with self._lock:
            if self.poll() is not None:
                return
            if self._conn is not None:
                try:
                    self._conn.send(encode({"signal": int(sig)}))
                    return
                except OSError:
                    pass
            with contextlib.suppress(ProcessLookupError):
                if self._pidfd is not None:
                    signal.pidfd_send_signal(self._pidfd, sig)
                else:
                    os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def __del__(self) -> None:
        if getattr(self, "_pidfd", None) is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)  # type: ignore[arg-type]  # checked just above


def spawn(socket_path: str, command: Sequence[str], env: Mapping[str, str], stderr: IO[bytes],
          cwd: str | None = None, timeout: float = 30.0) -> ForkedProcess:
    """Start `command` (this interpreter's `python -m module …`) through the zygote at
    `socket_path`, with piped stdin and stdout like `Popen(stdin=PIPE, stdout=PIPE, stderr=stderr)`.
    Raises `ZygoteUnavailable` when the zygote cannot (the caller then uses Popen)."""
    argv = module_command(command)
    if argv is None:
        raise ZygoteUnavailable(f"not a `{sys.executable} -m MODULE` command")
    stderr_fd = stderr.fileno()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        conn.settimeout(timeout)
        conn.connect(socket_path)
        request = encode({"executable": command[0], "argv": argv, "env": dict(env), "cwd": cwd or os.getcwd()})
        socket.send_fds(conn, [request], [in_r, out_w, stderr_fd])
        reply = decode(conn.recv(MAX_MESSAGE) or b'{"error": "the zygote closed the connection"}')
        if "pid" not in reply:
            raise ZygoteUnavailable(str(reply.get("error", "no pid in the zygote's answer")))
        conn.settimeout(None)
    except (OSError, ValueError) as exc:
        conn.close()
        for fd in (in_w, out_r):
            os.close(fd)
        raise exc if isinstance(exc, ZygoteUnavailable) else ZygoteUnavailable(str(exc)) from exc
    finally:
        for fd in (in_r, out_w):  # the child's ends: only the child holds them now
            os.close(fd)
    return ForkedProcess(command, conn, int(reply["pid"]), os.fdopen(in_w, "wb"), os.fdopen(out_r, "rb"))


def stats(socket_path: str, timeout: float = 10.0) -> dict[str, Any]:
    """`{"forked": N, "cpu_s": x}`: the children the zygote forked and the CPU of those it reaped."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
        conn.settimeout(timeout)
        conn.connect(socket_path)
        conn.send(encode({"stats": True}))
        return decode(conn.recv(MAX_MESSAGE))


class Zygote:
    """Start / stop one zygote process (`python -m conformance.servers.zygote`): `.socket_path`
    once started, for `ZYGOTE_ENV`. It exits when its stdin closes, so it dies with its starter."""

    def __init__(self, preload: Sequence[str] = SERVER_PRELOAD) -> None:
        self.preload = tuple(preload)
        self.process: subprocess.Popen[bytes] | None = None
        self.socket_path: str | None = None
        self._dir: str | None = None

    def start(self, timeout: float = START_TIMEOUT_S) -> Zygote:
        """Start it and wait for its READY line; raises `ZygoteUnavailable` (the zygote's last
        stderr line) when it does not come up."""
        self._dir = tempfile.mkdtemp(prefix="gwc-zygote-")  # 0700: only this user may connect
        path = str(Path(self._dir) / "zygote.sock")
        with tempfile.TemporaryFile() as errors:
            self.process = subprocess.Popen(
                [sys.executable, "-m", ZYGOTE_MODULE, "--socket", path, "--preload", ",".join(self.preload)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, start_new_session=False,
            )
            assert self.process.stdout is not None
            deadline = time.monotonic() + timeout
            line = b""
            while not line.endswith(b"\n") and time.monotonic() < deadline:
                if select.select([self.process.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
                    chunk = os.read(self.process.stdout.fileno(), 4096)
                    if not chunk:
                        break
                    line += chunk
            if line.strip() != f"READY {path}".encode():
                self.stop()
                errors.seek(0)
                last = [ln for ln in errors.read().decode("utf-8", "replace").splitlines() if ln.strip()]
                raise ZygoteUnavailable(f"the server zygote did not start: {last[-1] if last else 'no READY line'}")
        self.socket_path = path
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close its stdin (it exits once its running children's clients are done), then terminate."""
        process, self.process = self.process, None
        if process is not None:
            stop_child(process, timeout, timeout)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        self.socket_path = None

    def __enter__(self) -> Zygote:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
