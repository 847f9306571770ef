"""`python -m conformance.servers.zygote --socket PATH --preload MOD,MOD`: import the server stack
once, then fork a child per `python -m` start a client asks for (`servers.zygote_client`).

Why: a fresh interpreter re-imports ~440 modules for every reference gateway and provider a suite
run starts; a fork of a process that already holds them starts in a fraction of that CPU.

Fork-safety is why this process stays simple: one thread, no event loop, no socket but its own
listener and connections (closed in every child), nothing opened by the preloaded modules at import
time (checked by tests/test_zygote.py). Children get: default signal handlers, the client's three
fds on 0/1/2 (fresh `sys.std*` over them), the client's environment, argv and cwd (sys.path[0]
as `-m` sets it), then `runpy.run_module(..., run_name="__main__", alter_sys=True)` and the exit
status `python -m` would give. `random` reseeds itself after a fork (CPython's at-fork hook); the
children share the zygote's str-hash seed, which nothing in the servers depends on.

The zygote exits when its stdin closes (its starter gone), once no client still waits on a child.
A client that reaches it with a different interpreter set-up (`PYTHON*` variables other than
PYTHONUNBUFFERED) is refused, so that client starts the child with Popen instead.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import io
import os
import runpy
import select
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn, cast

from conformance.servers.zygote_client import MAX_MESSAGE, decode, encode

# PYTHON* variables are read when the interpreter starts, not from os.environ later: a child asking
# for other values must be a fresh python. Except these, which a child can still honour: stdio
# buffering (fresh streams), bytecode writing (a runtime flag) and the import path (rebuilt below).
_STARTUP_VARIABLES_HONOURED = {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH"}


def _startup_variables(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("PYTHON") and k not in _STARTUP_VARIABLES_HONOURED}


def _pythonpath_entries(env: dict[str, str], cwd: str) -> list[str]:
    """PYTHONPATH as python started in `cwd` puts it on sys.path: each entry (an empty one too) absolute."""
    value = env.get("PYTHONPATH", "")
    return [os.path.normpath(os.path.join(cwd, entry)) for entry in value.split(os.pathsep)] if value else []


def _found_at(names: Sequence[str], path: list[str]) -> list[str | None]:
    """Where the path-based import system would find each top-level module on `path`."""
    from importlib.machinery import PathFinder

    found: list[str | None] = []
    for name in names:
        try:
            spec = PathFinder.find_spec(name, path)
        except (ImportError, ValueError, OSError):
            spec = None
        found.append(None if spec is None else str(spec.origin or spec.submodule_search_locations))
    return found


class _Client:
    """One connection: at most one child, whose exit status goes back on it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pid: int | None = None

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.sock.send(encode(message))
        except OSError:  # the client is gone: nobody to tell
            pass


class Zygote:
    """The select loop: accept, fork, reap, report. Single-threaded by design (fork-safety)."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener: socket.socket | None = listener
        self.clients: dict[int, _Client] = {}  # by connection fd
        self.children: dict[int, _Client | None] = {}  # live child pid -> its client (None: client gone)
        self.forked = 0
        self.cpu_s = 0.0
        self.startup_variables = _startup_variables(dict(os.environ))
        # sys.path as python -m set it up here: [cwd, *PYTHONPATH, *the rest]; a child's is
        # [its cwd, *its PYTHONPATH, *the rest], and must find the preloaded modules where we did.
        self.own_path = list(sys.path)
        self.base_path = sys.path[1 + len(_pythonpath_entries(dict(os.environ), os.getcwd())):]
        self.preloaded = sorted({name.split(".")[0] for name, module in sys.modules.items()
                                 if getattr(module, "__file__", None)})
        self.checked_paths: set[tuple[str, ...]] = {tuple(self.own_path)}
        self.own_found: list[str | None] | None = None  # where our path finds them, once asked
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.stdin_open = True

    def run(self) -> None:
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # a Python handler, so the wakeup fd is written
        poller = select.poll()
        assert self.listener is not None
        poller.register(self.listener, select.POLLIN)
        poller.register(self.wake_r, select.POLLIN)
        poller.register(0, select.POLLIN)
        while self.stdin_open or any(c is not None for c in self.children.values()):
            for fd, _event in poller.poll():
                if fd == self.wake_r:
                    while True:
                        try:
                            if not os.read(self.wake_r, 4096):
                                break
                        except BlockingIOError:
                            break
                    self.reap()
                elif fd == 0:
                    if not os.read(0, 65536):  # the starter is gone or done: accept nobody new
                        self.stdin_open = False
                        poller.unregister(0)
                        if self.listener is not None:
                            poller.unregister(self.listener)
                            self.listener.close()
                            self.listener = None
                elif self.listener is not None and fd == self.listener.fileno():
                    try:
                        sock, _ = self.listener.accept()
                    except OSError:
                        continue
                    self.clients[sock.fileno()] = _Client(sock)
                    poller.register(sock, select.POLLIN)
                elif fd in self.clients:
                    if not self.serve(self.clients[fd]):
                        poller.unregister(fd)
                        self.drop(self.clients.pop(fd))
            self.reap()

    def serve(self, client: _Client) -> bool:
        """One message from `client`; False when the connection is done."""
        try:
            data, fds, flags, _ = socket.recv_fds(client.sock, MAX_MESSAGE, 3)
        except OSError:
            return False
        try:
            if not data:
                return False
            if flags & getattr(socket, "MSG_TRUNC", 0) or flags & getattr(socket, "MSG_CTRUNC", 0):
                client.send({"error": "request too large"})
                return False
            message = decode(data)
            if "signal" in message:
                if client.pid is not None and client.pid in self.children:  # not reaped: the pid is still ours
                    try:
                        os.kill(client.pid, int(message["signal"]))
                    except ProcessLookupError:
                        pass
                return True
            if "stats" in message:
                client.send({"forked": self.forked, "cpu_s": round(self.cpu_s, 3)})
                return False
            if client.pid is not None or len(fds) != 3 or "argv" not in message:
                client.send({"error": "a start request is argv, env, cwd and three fds, once per connection"})
                return False
            if message.get("executable") != sys.executable:  # another venv, another python: not ours to fork
                client.send({"error": f"the zygote runs {sys.executable}, not {message.get('executable')}"})
                return False
            env = {str(k): str(v) for k, v in message.get("env", {}).items()}
            if _startup_variables(env) != self.startup_variables:
                client.send({"error": "the child needs another interpreter set-up (PYTHON* variables differ)"})
                return False
            cwd = str(message.get("cwd") or os.getcwd())
            child_path = self.child_path(cwd, env)
            if child_path is None:
                client.send({"error": "the child's import path finds a preloaded module elsewhere"})
                return False
            argv = [str(a) for a in message["argv"]]
            if len(argv) < 2 or argv[0] != "-m":
                client.send({"error": "only `-m MODULE …` can be forked"})
                return False
            pid = os.fork()
            if pid == 0:
                self._child(argv, env, cwd, child_path, fds)
            self.forked += 1
            client.pid = pid
            self.children[pid] = client
            client.send({"pid": pid})
            return True
        except (ValueError, KeyError, TypeError) as exc:
            client.send({"error": f"bad request: {exc}"})
            return False
        except OSError as exc:  # fork failed (EAGAIN, ENOMEM): this child starts the old way
            client.send({"error": f"cannot fork: {exc.strerror or exc}"})
            return False
        finally:
            for fd in fds:  # the child has its copies; ours would keep the client's pipes open
                os.close(fd)

    def child_path(self, cwd: str, env: dict[str, str]) -> list[str] | None:
        """The child's sys.path, or None when on it a module we preloaded would come from another
        file than ours (a fresh python there would import something else: it must be one)."""
        try:
            cwd = os.path.realpath(cwd)
            # site drops duplicates (a .pth entry already on PYTHONPATH) before `-m` puts cwd first.
            path = [cwd, *dict.fromkeys([*_pythonpath_entries(env, cwd), *self.base_path])]
        except OSError:
            return None
        key = tuple(path)
        if key not in self.checked_paths:
            if self.own_found is None:
                self.own_found = _found_at(self.preloaded, self.own_path)
            if _found_at(self.preloaded, path) != self.own_found:
                return None
            self.checked_paths.add(key)
        return path

    def drop(self, client: _Client) -> None:
        """The client closed its end: its child, if still running, lives on (it watches its own stdin)."""
        if client.pid is not None and client.pid in self.children:
            self.children[client.pid] = None
        client.sock.close()

    def reap(self) -> None:
        while self.children:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            cpu_s = usage.ru_utime + usage.ru_stime
            self.cpu_s += cpu_s
            client = self.children.pop(pid, None)
            if client is not None:
                client.send({"status": os.waitstatus_to_exitcode(status), "cpu_s": round(cpu_s, 3)})

    def _child(self, argv: list[str], env: dict[str, str], cwd: str, path: list[str], fds: list[int]) -> NoReturn:
        """In the forked child: become `python -m argv[1] argv[2:]`, and never return into the loop."""
        status = 1
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGINT, _STARTING_SIGINT)
            for client in self.clients.values():
                client.sock.close()
            if self.listener is not None:
                self.listener.close()
            os.close(self.wake_r)
            os.close(self.wake_w)
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            for fd in set(fds):
                os.close(fd)
            fds.clear()  # the loop's `finally` must not close 0/1/2 reused numbers (it never runs here anyway)
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(env)
            _fresh_stdio(unbuffered=bool(env.get("PYTHONUNBUFFERED")))
            sys.path[:] = path
            sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
            sys.argv = [argv[1], *argv[2:]]
            status = _run_main(argv[1])
        except BaseException:  # noqa: BLE001 - anything before the module ran: python's own exit status 1
            with _suppressed():
                traceback.print_exc()
        finally:
            _exit(status)


def _run_main(module: str) -> int:
    """Run `module` as `__main__`; the exit status `python -m module` would end with."""
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        return _system_exit_status(exc.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        return -signal.SIGINT
    except BaseException:  # noqa: BLE001 - an uncaught exception: traceback, status 1, as python does
        sys.excepthook(*sys.exc_info())
        return 1
    return 0


def _system_exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with _suppressed():
        print(code, file=sys.stderr)
    return 1


def _exit(status: int) -> NoReturn:
    """Finish as the interpreter does (non-daemon threads, atexit, flush), then leave without
    unwinding into the zygote's frames. A negative status is death by that signal, as python dies
    of an uncaught KeyboardInterrupt."""
    with _suppressed():
        threading_shutdown = getattr(threading, "_shutdown", None)
        if threading_shutdown is not None:
            threading_shutdown()
    with _suppressed():
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with _suppressed():
            stream.flush()
    if status < 0:
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    os._exit(status & 0xFF)


class _suppressed:
    """`contextlib.suppress(BaseException)`: the child's last words must not stop it exiting."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


_OLD_STDIO: list[Any] = []  # the zygote's std streams, kept alive: collecting them would close fds 0-2


def _fresh_stdio(unbuffered: bool) -> None:
    """New `sys.std*` over fds 0-2, buffered as a fresh interpreter's would be."""
    encoding = sys.stdout.encoding if sys.stdout is not None else "utf-8"
    errors = sys.stdout.errors if sys.stdout is not None else "strict"
    _OLD_STDIO.extend([sys.stdin, sys.stdout, sys.stderr, sys.__stdin__, sys.__stdout__, sys.__stderr__])
    stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding, errors)
    # Unbuffered (python -u): the raw file itself under the text layer, as python does.
    raw = io.FileIO(1, "w", closefd=False)
    binary = cast(io.BufferedWriter, raw) if unbuffered else io.BufferedWriter(raw)
    stdout = io.TextIOWrapper(binary, encoding, errors, write_through=unbuffered,
                              line_buffering=not unbuffered and os.isatty(1))
    stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding, "backslashreplace",
                              line_buffering=True, write_through=True)
    sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = stdin, stdout, stderr  # type: ignore[misc]  # as at start-up


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m conformance.servers.zygote",
                                     description="Fork `python -m` server children from one warm process.")
    parser.add_argument("--socket", required=True, help="the Unix socket to listen on (in a private directory)")
    parser.add_argument("--preload", default="", help="modules to import once, comma-separated")
    return parser.parse_args(argv)


# What a fresh python's SIGINT would be: its own handler, or ignored if started with it ignored (nohup).
_STARTING_SIGINT: Any = signal.default_int_handler


def main(argv: Sequence[str] | None = None) -> int:
    global _STARTING_SIGINT
    args = parse_args(argv)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        _STARTING_SIGINT = signal.SIG_IGN
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the run; the zygote ends with its stdin
    try:
        for name in filter(None, (n.strip() for n in args.preload.split(","))):
            importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - any import failure: one line, and the starter falls back to Popen
        print(f"zygote: cannot preload: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if threading.active_count() != 1:  # fork-safety: a thread here would be missing (mid-lock) in every child
        print(f"zygote: the preloaded modules started {threading.active_count() - 1} thread(s)", file=sys.stderr)
        return 2
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        listener.bind(args.socket)
    except OSError as exc:
        print(f"zygote: cannot bind {args.socket}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    listener.listen(64)
    gc.collect()
    gc.freeze()  # the preloaded objects are never garbage: children's collections leave their pages shared
    sys.stdout.write(f"READY {args.socket}\n")
    sys.stdout.flush()
    Zygote(listener).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
