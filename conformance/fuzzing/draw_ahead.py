"""FUZ-1's OpenAPI examples drawn in a child process while the run's first tests wait on the gateway.

Why: drawing the operations' examples is the costliest CPU of a run (~1 CPU-s of a ~5 s bare run,
most of it the chat-completion bodies), and it sat on the run's critical path: the fuzz tests come
last, each drawing before it can send. The first tests mostly wait (spend windows, a paced stream,
task polls, a gateway's round trips), so a child forked at the first test draws the examples on
another core and hands them over a pipe into `draw_memo`, as a kill matrix's fork server does for
its runs. When a fuzz test starts, its examples are there (or it waits for the child's last ones).

Same examples: the child is a copy of this process, so it builds the same strategies and draws with
the same seeds; an entry carries the child's fingerprint of hypothesis's constant pool and is used
only while this process's is the same (`draw_memo`). What crosses the pipe is what each case sends
(`openapi.DrawnCase`), not the schemathesis case, which holds the whole schema. A finding, a child
that fails, dies or is too slow: the test draws for itself, as without it.

Only where it is free to be exact: a platform with fork, one process (not an xdist worker, which
holds items it will not run), draws the memo does not have yet (a forked run inherits its server's).
The child holds nothing of the run: it closes every inherited descriptor at once (a connection the
run later closes, such as CHG-5's cut stream, must close at the gateway when the run closes it).
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.fuzzing import draw_memo, storage
from conformance.fuzzing.engine import search

# Off for runs that must draw everything themselves (tests/draw_memo_off.py).
enabled = True


@dataclass(frozen=True)
class Draw:
    """One search's examples to draw: its `draw_memo` key, how to build its strategy, and how to
    turn a drawn value into what may cross the pipe."""

    drawn_as: Hashable  # the strategy's key, as its search passes it to `engine.gathered_search`
    strategy: Callable[[], Any]
    seed: int
    examples: int
    portable: Callable[[Any], Any]

    @property
    def key(self) -> Hashable:
        return draw_memo.entry_key(self.drawn_as, self.seed, self.examples)


class Child:
    """The drawing child and the thread that reads what it sends (and reaps it)."""

    def __init__(self, pid: int, keys: list[Hashable], read_fd: int) -> None:
        self.pid, self.keys = pid, keys
        self._reaped = False
        self._lock = threading.Lock()  # a pid is signalled only before it is reaped (then it may be anyone's)
        self.reader = threading.Thread(target=self._receive, args=(read_fd,), name="gwc-draw-ahead", daemon=True)
        self.reader.start()

    def stop(self) -> None:
        """The run is over: end the child if it still draws (the reader then hands back what is
        left undelivered and reaps it)."""
        with self._lock:
            if not self._reaped:
                os.kill(self.pid, signal.SIGKILL)
        self.reader.join(timeout=10)

    def _receive(self, read_fd: int) -> None:
        try:
            with os.fdopen(read_fd, "rb") as pipe:
                while len(header := pipe.read(8)) == 8:
                    record = pipe.read(int.from_bytes(header, "big"))
                    key, pool, values = pickle.loads(record)
                    draw_memo.deliver(key, pool, values)
        except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, AttributeError, ImportError):
            pass  # a broken record: the tests draw for themselves
        finally:
            draw_memo.give_up(self.keys)  # whatever did not come, the tests draw for themselves, now
            with self._lock:  # the pipe is closed: the child has exited, or is exiting
                try:
                    os.waitpid(self.pid, 0)
                except ChildProcessError:  # reaped by someone else already
                    pass
                self._reaped = True


def available() -> bool:
    return enabled and hasattr(os, "fork") and sys.platform.startswith("linux")


def start(draws: Sequence[Draw]) -> Child | None:
    """Fork a child that draws `draws` in order, each handed to `draw_memo` as soon as drawn; None
    when there is nothing to draw here."""
    draws = [d for d in draws if not draw_memo.has(d.key)]
    if not draws or not available():
        return None
    storage.keep_hypothesis_out_of_cwd()  # chosen here, once: the child must not choose (or clean up) its own
    keys = [d.key for d in draws]
    read_fd, write_fd = os.pipe()
    draw_memo.expect(keys)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads (the child starts none)
            pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        draw_memo.give_up(keys)
        return None
    if pid == 0:  # pragma: no cover - the child; it never returns
        _draw_in_child(write_fd, draws)
    os.close(write_fd)
    return Child(pid, keys, read_fd)


def _draw_in_child(write_fd: int, draws: Sequence[Draw]) -> None:  # pragma: no cover - runs in the child
    status = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # the run's Ctrl-C ends it, no handler of the run's
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, write_fd)
        os.closerange(write_fd + 1, _max_fd())
        for draw in draws:
            values: list[Any] = []
            search(draw.strategy(), values.append, examples=draw.examples, seed=draw.seed)
            try:
                record = pickle.dumps((draw.key, draw_memo.constant_pool(), [draw.portable(v) for v in values]))
            except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
                continue  # not portable: the run draws this one itself
            _write_all(write_fd, len(record).to_bytes(8, "big") + record)
        status = 0
    finally:  # whatever happened (nothing is printed: its output is /dev/null), the run draws what it did not get
        os._exit(status)


def _max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        return 4096


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
