"""Gathering (conformance/transport/gather.py, ScenarioBook.prefetch, engine.gathered_search):
side by side, but the same requests as one at a time, lanes kept in order, the budget exact."""

from __future__ import annotations

import functools
import threading
import time

from hypothesis import strategies as st

from conformance.contract.profiles import load_profile
from conformance.fuzzing import draw_memo
from conformance.fuzzing.engine import Fuzzer, draw_once, gathered_search, search
from conformance.transport.client import Exchange, GatewayClient, RequestBudget
from conformance.transport.gather import Pipeline, in_order, run_lanes, side_by_side


def test_lanes_run_side_by_side_each_in_order() -> None:
    log: list[tuple[str, int]] = []
    lock = threading.Lock()
    inside = [0, 0]  # now, most at once

    def call(lane: str, i: int):
        def go() -> None:
            with lock:
                inside[0] += 1
                inside[1] = max(inside[1], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1
                log.append((lane, i))
        return go

    run_lanes([[call(lane, i) for i in range(3)] for lane in "abcd"], concurrency=4)
    for lane in "abcd":
        assert [i for name, i in log if name == lane] == [0, 1, 2]
    assert inside[1] > 1  # side by side
    run_lanes([[call("s", i) for i in range(3)]], concurrency=1)


def test_a_spent_budget_stops_every_lane() -> None:
    budget = RequestBudget(max_requests=5)
    calls = []

    def call() -> None:
        budget.acquire()
        calls.append(1)

    run_lanes([[call] * 4 for _ in range(4)], concurrency=4)
    assert budget.sent == 5 and len(calls) == 5


def test_in_order_stops_starting_after_a_finding() -> None:
    started: list[int] = []
    calls = [lambda i=i: started.append(i) for i in range(20)]
    ran = in_order(calls, 3, done=lambda i: i == 4)
    assert ran == 5
    assert len(started) <= 5 + 3  # what was in flight, never the rest
    assert in_order(calls, 1, done=lambda i: False) == 20


def test_side_by_side_returns_in_call_order_and_raises_the_first_failure() -> None:
    def slow(i: int):
        def go() -> int:
            time.sleep(0.01 * (5 - i))  # the last call ends first
            return i
        return go

    assert side_by_side([slow(i) for i in range(5)], 5) == [0, 1, 2, 3, 4]
    assert side_by_side([slow(i) for i in range(5)], 1) == [0, 1, 2, 3, 4]

    def fails(message: str):
        def go() -> int:
            raise ValueError(message)
        return go

    try:
        side_by_side([slow(0), fails("first"), fails("second")], 3)
    except ValueError as exc:
        assert str(exc) == "first"
    else:
        raise AssertionError("side_by_side swallowed a failure")


class _Recorder(GatewayClient):
    """A client that answers without a network: 200, or 500 for bodies containing `bad`."""

    def __init__(self, concurrency: int, bad: bytes | None = None) -> None:
        super().__init__("http://127.0.0.1:9", concurrency=concurrency, budget=RequestBudget(max_requests=1000))
        self.bad = bad
        self.sent_bodies: list[bytes] = []
        self._sent_lock = threading.Lock()

    def request(self, method, path, **kwargs) -> Exchange:  # type: ignore[override]
        self.budget.acquire()
        body = kwargs.get("content") or b""
        with self._sent_lock:
            self.sent_bodies.append(body)
        status = 500 if self.bad is not None and self.bad in body else 200
        exchange = Exchange(method, self.url(path), {}, body, status=status,
                            headers=__import__("httpx").Headers({"content-type": "application/json"}), body=b"{}")
        self.record(exchange)
        return exchange


def _fuzz(concurrency: int, bad: bytes | None = None):
    client = _Recorder(concurrency, bad)
    fuzzer = Fuzzer(client, load_profile("pyai"), label="fuzz:t", max_sends=15 * 6)
    strategy = st.binary(min_size=1, max_size=8)

    def prop(value: bytes) -> None:
        fuzzer.check(fuzzer.send("POST", "/v1/chat/completions", content=value))

    findings = gathered_search(fuzzer, strategy, prop, examples=15, seed=1234)
    return client, fuzzer, findings


def test_gathered_search_sends_what_a_serial_search_sends() -> None:
    serial, serial_fuzzer, none = _fuzz(1)
    gathered, gathered_fuzzer, none_either = _fuzz(8)
    assert none == none_either == []
    assert sorted(serial.sent_bodies) == sorted(gathered.sent_bodies)
    assert [e.request_body for e in serial_fuzzer.exchanges] == [e.request_body for e in gathered_fuzzer.exchanges]


def test_gathered_search_finds_and_shrinks_like_a_serial_one() -> None:
    serial_client, _, serial = _fuzz(1, bad=b"\x00")
    gathered_client, _, gathered = _fuzz(8, bad=b"\x00")
    assert serial and gathered
    assert serial[0].exchange.request_body == gathered[0].exchange.request_body  # the same shrunk example
    extra = len(gathered_client.sent_bodies) - len(serial_client.sent_bodies)
    assert 0 <= extra < 8  # at most what was in flight when the finding was judged


def test_gathered_search_builds_its_strategy_only_to_draw(monkeypatch) -> None:
    """A builder passed instead of a strategy is called only when the search draws: not when the
    examples were drawn already (draw_memo) and none fails; at a finding, for the real search."""
    monkeypatch.setattr(draw_memo, "_DRAWN", {})
    built: list[int] = []

    def builder():
        built.append(1)
        return st.binary(min_size=1, max_size=8)

    draw_once("gwc-test-builder", st.binary(min_size=1, max_size=8), examples=15, seed=1234)
    for bad, calls in ((None, 0), (b"\x00", 1)):
        built.clear()
        client = _Recorder(8, bad)
        fuzzer = Fuzzer(client, load_profile("pyai"), label="fuzz:t", max_sends=15 * 6)
        findings = gathered_search(fuzzer, builder, lambda v, f=fuzzer: f.check(f.send("POST", "/v1/chat/completions", content=v)),
                                   examples=15, seed=1234, drawn_as="gwc-test-builder")
        assert len(built) == calls and bool(findings) == (bad is not None)


def test_plain_search_is_untouched() -> None:
    seen: list[int] = []
    search(st.integers(0, 10), seen.append, examples=5, seed=1)
    assert seen


def test_pipeline_starts_calls_as_they_come_and_judges_them_in_order() -> None:
    """No call starts once `done` said stop, and at most `concurrency` are in flight. How many start
    before the stop depends on how fast this machine runs them, so that is not asserted: calls handed
    over once the pipeline stopped are (`_stop`, read in this thread before handing each over)."""
    started: list[int] = []
    judged: list[int] = []
    lock = threading.Lock()
    in_flight = [0, 0]  # now, most

    def call(i: int) -> None:
        with lock:
            started.append(i)
            in_flight[0] += 1
            in_flight[1] = max(in_flight[1], in_flight[0])
        time.sleep(0.01 * (i % 3))
        with lock:
            in_flight[0] -= 1

    pipeline = Pipeline(3, done=lambda i: judged.append(i) or i == 4)
    after_stop: list[int] = []

    def hand_over(i: int) -> None:
        if pipeline._stop.is_set():
            after_stop.append(i)
        pipeline.submit(functools.partial(call, i))

    for i in range(20):
        hand_over(i)
        time.sleep(0.002)  # the caller is still working out the next call
    deadline = time.monotonic() + 30
    while not pipeline._stop.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    for i in range(20, 25):  # handed over once the pipeline stopped, whatever this machine's load
        hand_over(i)
    assert pipeline.finish() == 5
    assert judged == [0, 1, 2, 3, 4]  # in call order, whatever order they ended in
    assert after_stop and not set(after_stop) & set(started), (after_stop, started)
    assert set(started) >= {0, 1, 2, 3, 4} and in_flight[1] <= 3

    def fails(message: str):
        def go() -> None:
            raise ValueError(message)
        return go

    pipeline = Pipeline(3, done=lambda i: False)
    for call in (lambda: time.sleep(0.02), fails("first"), fails("second")):
        pipeline.submit(call)
    try:
        pipeline.finish()
    except ValueError as exc:
        assert str(exc) == "first"
    else:
        raise AssertionError("the pipeline swallowed a failure")
