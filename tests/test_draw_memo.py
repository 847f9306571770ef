"""FUZ-1's examples drawn once in the fork server (conformance.fuzzing.draw_memo) are exactly the
examples a forked run would draw itself, and forked runs do use them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance import forkrun, killmatrix
from conformance.contract.profiles import load_profile
from conformance.fuzzing import draw_memo
from conformance.fuzzing.engine import draw_once, search, seed_for
from conformance.fuzzing.openapi import case_strategy, case_strategy_key, openapi_fuzz_test_name, request_of
from conformance.runner.options import DEFAULT_FUZZ_EXAMPLES
from tests.conftest import run_suite

LABEL = "POST /v1/chat/completions"


def test_the_server_draws_for_the_numbers_of_examples_forked_runs_use():
    import importlib.util

    spec = importlib.util.find_spec("conformance.fuzzing.prewarm")
    assert spec is not None and spec.origin is not None
    # Read, not imported: importing it draws every operation's examples.
    source = Path(spec.origin).read_text(encoding="utf-8")
    drawn = f"DRAWN_EXAMPLES = ({DEFAULT_FUZZ_EXAMPLES}, {killmatrix.MATRIX_FUZZ_EXAMPLES})"
    assert drawn in source, f"prewarm must draw for the default and the kill matrix's examples: {drawn}"


def test_a_remembered_draw_is_what_the_search_draws(monkeypatch):
    profile = load_profile("pyai")
    strategy = case_strategy(profile, LABEL, billable_allowed=True)
    key = case_strategy_key(profile, LABEL, billable_allowed=True)
    seed = seed_for(openapi_fuzz_test_name(LABEL), None)
    monkeypatch.setattr(draw_memo, "_DRAWN", {})
    draw_once(key, strategy, examples=5, seed=seed)
    drawn: list[object] = []
    search(strategy, drawn.append, examples=5, seed=seed)
    remembered = draw_memo.recall((key, seed, 5))
    assert remembered is not None and len(remembered) == len(drawn) > 0
    assert [request_of(case) for case in remembered] == [request_of(case) for case in drawn]
    assert draw_memo.recall((key, seed + 1, 5)) is None, "another seed draws other examples"


def test_a_draw_made_with_other_constants_is_not_used(monkeypatch):
    """Hypothesis mixes the constants of the local modules loaded when it draws into its draws:
    an entry drawn before a module of ours was loaded is not what a draw now gives."""
    monkeypatch.setattr(draw_memo, "_DRAWN", {})
    draw_memo.remember("k", [1, 2, 3])
    assert draw_memo.recall("k") == (1, 2, 3)
    monkeypatch.setattr(draw_memo, "constant_pool", lambda: 12345)
    assert draw_memo.recall("k") is None


def _fuzz_requests(har: Path, also: tuple[str, ...] = ()) -> list[tuple[str, str, str | None, str]]:
    """FUZ-1's OpenAPI requests in a run's HAR (and those labelled `also`): method, path and query,
    body, test."""
    entries = json.loads(har.read_text())["log"]["entries"]
    return [(e["request"]["method"], e["request"]["url"].split("/", 3)[-1], (e["request"].get("postData") or {}).get("text"),
             e["_label"]) for e in entries if e["_label"].startswith(("fuzz:test_fuzz_openapi", *also))]


@pytest.mark.skipif(not forkrun.available(), reason="no fork server on this platform")
@pytest.mark.parametrize("examples", [killmatrix.MATRIX_FUZZ_EXAMPLES, DEFAULT_FUZZ_EXAMPLES])
def test_a_forked_run_sends_what_it_would_have_drawn_itself(tmp_path, examples):
    args = ["-p", "no:randomly", "-k", "test_fuzz_openapi", "--fuzz-examples", str(examples),
            "-p", "tests.draw_memo_probe"]
    remembered = run_suite(tmp_path, *args, "--evidence-har", str(tmp_path / "remembered.har"))
    drawn = run_suite(tmp_path, *args, "-p", "tests.draw_memo_off", "--evidence-har", str(tmp_path / "drawn.har"))
    sent = len(_fuzz_requests(tmp_path / "drawn.har"))
    assert "draw_memo: 4 of 4 recalled" in remembered.output, remembered.output[-2000:]
    assert "draw_memo: 0 of 4 recalled" in drawn.output, drawn.output[-2000:]
    assert sent > 4, "FUZ-1 sent nothing to compare"
    # The same requests; the HAR lists them as they were answered, eight at a time.
    assert sorted(_fuzz_requests(tmp_path / "remembered.har"), key=repr) == sorted(_fuzz_requests(tmp_path / "drawn.har"), key=repr)
