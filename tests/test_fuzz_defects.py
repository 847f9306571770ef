"""FUZ-1..3 and the whole-run observer: a failure is shrunk to a curl reproduction, the budget holds,
and the hang never hangs the run (which requirements each defect fails: tests/test_kill_matrix.py)."""

from __future__ import annotations

import re


def test_fuzz_failure_is_shrunk_and_reproducible(suite):
    """Same seed, same minimal example; the example is small (shrunk), and the seed is named."""
    args = ("-k", "test_fuzz_raw_body", "--hypothesis-seed", "7")
    first = suite(*args, defects=("nested_body_500",))
    second = suite(*args, defects=("nested_body_500",))
    reasons = [re.sub(r"127\.0\.0\.1:\d+", "HOST", next(r["reason"] for r in run.report["requirements"] if r["id"] == "FUZ-1"))
               for run in (first, second)]
    assert reasons[0] == reasons[1], reasons
    assert "--hypothesis-seed 7" in reasons[0] and "curl " in reasons[0], reasons[0]
    body = first.report["requirements"]
    evidence = next(r for r in body if r["id"] == "FUZ-1")["evidence"][0]
    assert len(evidence["request"].get("body", "")) < 200, evidence["request"]  # 64 levels, not 5000


def test_fuzz_respects_the_request_budget(suite):
    run = suite("-k", "fuzz", "--max-requests", "15")
    assert run.report["requests_sent"] <= 15, run.report["requests_sent"]
    assert run.verdict == "incomplete", run.output[-2000:]
    fuz = {r["id"]: r for r in run.report["requirements"]}
    assert fuz["FUZ-1"]["status"] == "skipped" and "budget" in fuz["FUZ-1"]["reason"], fuz["FUZ-1"]


def test_observer_reports_violations_from_any_test(suite):
    """A defect no targeted test looks for (HTML 415 on a content type) still fails ENV-1, filed by the observer."""
    run = suite("-k", "fuzz_raw_body", defects=("html_415_for_wrong_content_type",))
    env1 = next(r for r in run.report["requirements"] if r["id"] == "ENV-1")
    assert env1["status"] == "failed", env1
    assert any(t.endswith("(observer)") for t in env1["tests"]), env1["tests"]


def test_observer_findings_cross_xdist_workers(suite):
    run = suite("-n", "2", defects=("html_415_for_wrong_content_type",))
    assert run.failed() == {"FUZ-1", "ENV-1"}, (run.failed(), run.output[-2000:])


def test_default_run_is_conformant_for_fuzzing(clean_run):
    run = clean_run("pyai")  # the default profile's bare run, shared with tests/test_certify_reference.py
    statuses = {r["id"]: r["status"] for r in run.report["requirements"]}
    assert all(statuses[i] == "passed" for i in ("FUZ-1", "FUZ-2", "FUZ-3", "ENV-1", "ENV-3", "HDR-1")), statuses
    assert run.report["requests_sent"] <= 500
