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

from conformance.transport.client import BudgetExhausted

Call = Callable[[], object]


def run_lanes(lanes: Sequence[Sequence[Call]], concurrency: int) -> None:
    """Run every lane (its calls in order), at most `concurrency` lanes at once; return when all
    ended. A spent budget stops every lane before its next call; an interrupt (Ctrl-C) stops them
    too and is re-raised once the calls in flight have returned (each bounded by the request
    timeout)."""
    lanes = [lane for lane in lanes if lane]
    if not lanes:
        return
    stop = threading.Event()

    def run(lane: Sequence[Call]) -> None:
        for call in lane:
            if stop.is_set():
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
    pool = ThreadPoolExecutor(max_workers=min(concurrency, len(lanes)), thread_name_prefix="gwc-gather")
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

    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="gwc-gather")
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
