"""FUZ-3's and FUZ-1's examples drawn by a child the run forks at its first test
(conformance.fuzzing.draw_ahead) are exactly what the run would draw itself; a child that fails
leaves the drawing to the run; and the child holds none of the run's connections."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from conformance.contract.profiles import load_profile
from conformance.fuzzing import draw_ahead, draw_memo
from conformance.fuzzing.billed_rejections import rejection_draw
from conformance.fuzzing.engine import search
from conformance.fuzzing.openapi import openapi_draws, request_of
from tests.conftest import run_suite
from tests.test_draw_memo import _fuzz_requests

pytestmark = pytest.mark.skipif(not draw_ahead.available(), reason="no fork on this platform")


@pytest.fixture(autouse=True)
def _empty_memo(monkeypatch):
    monkeypatch.setattr(draw_memo, "_DRAWN", {})
    monkeypatch.setattr(draw_memo, "_PENDING", {})


def _sent(value: Any) -> Any:
    """What a drawn value makes the run send: FUZ-3's raw bodies as they are, cases as requests."""
    return value if isinstance(value, tuple) else request_of(value)


def test_a_child_draws_what_the_run_would_draw():
    profile = load_profile("mindproxy")
    draws = [rejection_draw(profile, examples=5, seed=None),
             *openapi_draws(profile, ["POST /v1/chat/completions", "GET /v1/models"], examples=5, seed=None,
                            billable_allowed=True)]
    child = draw_ahead.start(draws)
    assert child is not None
    try:
        for draw in draws:
            delivered = draw_memo.recall(draw.key)
            assert delivered is not None, f"{draw.key} not delivered"
            here: list[Any] = []
            search(draw.strategy(), here.append, examples=draw.examples, seed=draw.seed)
            assert [_sent(v) for v in delivered] == [_sent(v) for v in here], draw.key
    finally:
        child.stop()


def _failing_strategy() -> Any:
    raise RuntimeError("no strategy in the child")


def test_a_child_that_fails_leaves_the_draw_to_the_run(monkeypatch):
    monkeypatch.setattr(draw_memo, "PENDING_WAIT_S", 600.0)
    draw = draw_ahead.Draw(("failing",), _failing_strategy, 1, 3, lambda v: v)
    child = draw_ahead.start([draw])
    assert child is not None
    started = time.monotonic()
    try:
        assert draw_memo.recall(draw.key) is None
    finally:
        child.stop()
    assert time.monotonic() - started < 300, "the run waited for a child that had given up"  # a hang guard only


def _never_ending(value: int) -> int:
    time.sleep(600)
    return value


def test_the_child_holds_none_of_the_run_s_connections():
    """A connection the run closes while the child draws closes at the peer (CHG-5 cuts a stream by
    closing its connection: a child holding a copy would keep it open at the gateway)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        run_side = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
        child = draw_ahead.start([draw_ahead.Draw(("endless",), lambda: st.integers().map(_never_ending), 1, 3,
                                                  lambda v: v)])
        assert child is not None
        try:
            run_side.close()
            peer.settimeout(120)  # closed at once where the child holds no copy; never while it holds one
            assert peer.recv(1) == b""
        finally:
            peer.close()
            child.stop()


def test_a_fresh_run_sends_what_it_would_have_drawn_itself(tmp_path: Path):
    args = ["-p", "no:randomly", "-k", "test_fuzz_openapi or fuzzed_rejections", "--fuzz-examples", "5",
            "-p", "tests.draw_memo_probe"]
    ahead = run_suite(tmp_path, *args, "--evidence-har", str(tmp_path / "ahead.har"), fresh_process=True)
    drawn = run_suite(tmp_path, *args, "-p", "tests.draw_memo_off", "--evidence-har", str(tmp_path / "drawn.har"),
                      fresh_process=True)
    assert "draw_memo: 5 of 5 recalled" in ahead.output, ahead.output[-2000:]
    assert "draw_memo: 0 of 5 recalled" in drawn.output, drawn.output[-2000:]
    sent = _fuzz_requests(tmp_path / "drawn.har", also=("fuzz:charges",))
    assert len(sent) > 5, "the fuzz tests sent nothing to compare"
    assert sorted(_fuzz_requests(tmp_path / "ahead.har", also=("fuzz:charges",)), key=repr) == sorted(sent, key=repr)
