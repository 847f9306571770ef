"""Send independent requests side by side, so the tests that judge them find the answers there.

Why: a gateway 150 ms away costs 150 ms per request sent one after another; the evidence most tests
judge (the memoised scenarios, a fuzz test's examples) is known before the test reads it and does
not depend on other answers. `run_lanes` runs lanes of calls side by side in one process (one client,
so one connection pool, one `RequestBudget`: --max-requests and --max-rps hold exactly), each lane's
calls in order: what must stay ordered (one role's rate-limit burst, the concurrency probe) is one
lane. Gathering never judges and never raises: a call that fails is left for the test, which makes
it again and meets the failure (memoised, or raised as it would have been without gathering).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

from conformance.transport.client import AHEAD_THREAD, GATHER_THREAD, BudgetExhausted

Call = Callable[[], object]
T = TypeVar("T")


def _pool_name() -> str:
    """The name prefix of a new pool's threads: a pool started while gathering ahead keeps the lane
    in its threads' names (`GatewayClient` marks their requests), every other one is a gathering pool."""
    current = threading.current_thread().name
    return f"{current}/pool" if current.startswith(AHEAD_THREAD) else GATHER_THREAD


def run_lanes(lanes: Sequence[Sequence[Call]], concurrency: int, *, stop_when: threading.Event | None = None) -> None:
    """Run every lane (its calls in order), at most `concurrency` lanes at once; return when all
    ended. A spent budget stops every lane before its next call; an interrupt (Ctrl-C) stops them
    too and is re-raised once the calls in flight have returned (each bounded by the request
    timeout); so does `stop_when` once set (the run ends while this gathers ahead)."""
    lanes = [lane for lane in lanes if lane]
    if not lanes:
        return
    stop = threading.Event()

    def run(lane: Sequence[Call]) -> None:
        for call in lane:
            if stop.is_set() or (stop_when is not None and stop_when.is_set()):
                return
            try:
                call()
            except BudgetExhausted:
                stop.set()
                return
            except Exception:  # noqa: BLE001 - the test repeats the call and meets it
                continue

    if concurrency <= 1 or len(lanes) == 1:
        for lane in lanes:
            run(lane)
        return
    pool = ThreadPoolExecutor(max_workers=min(concurrency, len(lanes)), thread_name_prefix=_pool_name())
    try:
        futures = [pool.submit(run, lane) for lane in lanes]
        wait(futures)
    except BaseException:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def in_order(calls: Sequence[Call], concurrency: int, done: Callable[[int], bool]) -> int:
    """Run `calls` with up to `concurrency` in flight, handing each finished index to `done` in
    call order; stop starting new calls once `done` returns True (a finding: what a serial run
    would not have sent after it is not sent, save the few already in flight). → how many ran."""
    if not calls:
        return 0
    if concurrency <= 1:
        for i, call in enumerate(calls):
            call()
            if done(i):
                return i + 1
        return len(calls)
    stop = threading.Event()
    results: list[threading.Event] = [threading.Event() for _ in calls]
    started = [False] * len(calls)
    errors: list[BaseException | None] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            if stop.is_set():
                return
            started[i] = True
            calls[i]()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread, in order
            errors[i] = exc
        finally:
            results[i].set()

    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=_pool_name())
    ran = 0
    try:
        for i in range(len(calls)):
            pool.submit(run, i)
        for i in range(len(calls)):
            results[i].wait()
            if not started[i]:
                break
            error = errors[i]
            if error is not None:
                stop.set()
                raise error
            ran = i + 1
            if done(i):
                stop.set()
                break
    except BaseException:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    stop.set()
    pool.shutdown(wait=True, cancel_futures=True)
    return ran


class Pipeline:
    """`in_order` fed one call at a time, while the caller is still working out the next ones (a
    fuzz test's dry run draws its examples one by one): each call starts as soon as a worker is free,
    at most `concurrency` in flight; `done(i)` sees each ended call in call order, from the worker
    that ended it (so it must only judge: pure and thread-safe), and once it returns True no
    further call starts. `finish()` waits for the calls started, raises the first error in call
    order, and returns how many calls were handed to `done`."""

    def __init__(self, concurrency: int, done: Callable[[int], bool]) -> None:
        self._done = done
        self._workers = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix=_pool_name())
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ended: list[bool] = []
        self._started: list[bool] = []
        self._errors: list[BaseException | None] = []
        self._next = 0  # the next call `done` sees
        self._halted = False  # `done` said stop, or a call raised / never started: nothing more is judged
        self._error: BaseException | None = None
        self.ran = 0

    def submit(self, call: Call) -> None:
        with self._lock:
            i = len(self._ended)
            self._ended.append(False)
            self._started.append(False)
            self._errors.append(None)
        self._workers.submit(self._run, i, call)

    def _run(self, i: int, call: Call) -> None:
        try:
            if not self._stop.is_set():
                self._started[i] = True
                call()
        except BaseException as exc:  # noqa: BLE001 - raised by finish() in the caller's thread, in order
            self._errors[i] = exc
        finally:
            with self._lock:
                self._ended[i] = True
                self._judge_ended()

    def _judge_ended(self) -> None:
        """Hand `done` every call ended in order so far (under the lock)."""
        while not self._halted and self._next < len(self._ended) and self._ended[self._next]:
            i = self._next
            self._next += 1
            error = self._errors[i]
            if not self._started[i] or error is not None:
                self._error = error
                self._halt()
                return
            self.ran = i + 1
            try:
                if self._done(i):
                    self._halt()
            except BaseException as exc:  # noqa: BLE001 - as a call's error
                self._error = exc
                self._halt()

    def _halt(self) -> None:
        self._halted = True
        self._stop.set()

    def finish(self) -> int:
        self._workers.shutdown(wait=True)
        if self._error is not None:
            raise self._error
        return self.ran

    def abandon(self) -> None:
        """The caller failed: start nothing more, wait for the calls in flight."""
        self._stop.set()
        self._workers.shutdown(wait=True, cancel_futures=True)


def side_by_side(calls: Sequence[Callable[[], T]], concurrency: int) -> list[T]:
    """Run independent `calls` with up to `concurrency` in flight and return their results in call
    order, as a loop over them would; the first call (in order) that raised raises here."""
    results: list[T] = []
    slots: list[object] = [None] * len(calls)

    def keep(i: int) -> Call:
        def call() -> None:
            slots[i] = calls[i]()
        return call

    in_order([keep(i) for i in range(len(calls))], concurrency, lambda i: False)
    results.extend(slots)  # type: ignore[arg-type]
    return results
