"""`--max-requests N` ends fast (issue 20): once the budget is spent every remaining test is
`skipped: budget spent` before it does local work — no fixture, no fuzz generation, no SDK back-off.
Asserted on behaviour (what ran after the spend), never on a wall clock. Before the change the
tests after the spend still ran their call phase and fuzzing kept generating examples it could no
longer send (57 s of it on a busy machine)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_suite

pytestmark = pytest.mark.slow
QUIET = {"GITHUB_STEP_SUMMARY": ""}


def _probed(tmp_path, *args: str):
    probe = tmp_path / "probe.json"
    run = run_suite(tmp_path, "-p", "no:randomly", "-p", "tests.budget_probe", *args,
                    env={**QUIET, "GWC_SELFTEST_BUDGET_PROBE": str(probe)})
    assert probe.exists(), run.output[-3000:]
    return run, json.loads(probe.read_text())


def test_after_the_spend_every_test_is_skipped_before_it_runs(tmp_path):
    run, seen = _probed(tmp_path, "--max-requests", "5")
    assert seen["called_after_spent"] == [], seen["called_after_spent"][:5]
    assert run.report is not None and run.verdict == "incomplete", run.output[-3000:]
    skipped = [t for t in run.report["tests"] if t["outcome"] == "skipped"] if "tests" in run.report else []
    rows = [r for r in run.report["requirements"] if r["status"] == "skipped"]
    assert rows and all("budget spent" in r["reason"] for r in rows), rows[:3]
    assert all("budget spent" in t["reason"] for t in skipped), skipped[:3]


def test_a_fuzz_test_stops_generating_once_the_budget_refuses(tmp_path):
    run, seen = _probed(tmp_path, "--max-requests", "3", "-k", "test_fuzz_raw_body", "-rs")
    assert seen["examples_after_refusal"] == 0, (seen, run.output[-2000:])
    assert "budget spent" in run.output, run.output[-2000:]
