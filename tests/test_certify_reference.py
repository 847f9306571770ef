"""Bare `pytest` certifies the bundled reference gateway: conformant, for both profiles, also under -n 2."""

from __future__ import annotations

import pytest

from conformance.contract.schemas import first_error


@pytest.mark.parametrize("profile", ["pyai", "mindproxy"])
def test_reference_is_conformant(clean_run, profile):
    run = clean_run(profile)
    assert run.returncode == 0, run.output[-3000:]
    assert run.report is not None
    assert first_error(run.report, "report.schema.json") is None
    not_passed = {r["id"]: r["reason"] for r in run.report["requirements"] if r["status"] != "passed"}
    assert run.verdict == "conformant", not_passed
    assert "verdict: conformant" in run.output
    # Nothing gathered in the background moved the global `random` while hypothesis drew (the SDK's
    # back-off jitter), and no background thread died.
    assert "HypothesisDeprecationWarning" not in run.output and "Exception in thread" not in run.output
    assert run.report["target"]["reference"] is True
    assert run.report["requests_sent"] > 0
    passed = {r["id"] for r in run.report["requirements"] if r["status"] == "passed"}
    assert {f"UPS-{i}" for i in range(1, 9)} <= passed  # provider mode: UPS certified, not skipped


def test_reference_under_xdist(suite):
    run = suite("-n", "2", "--profile", "mindproxy")
    assert run.returncode == 0, run.output[-3000:]
    assert run.verdict == "conformant", [r for r in run.report["requirements"] if r["status"] != "passed"]
    assert len(run.report["requirements"]) > 10


def test_level_must_only(suite):
    run = suite("--level", "must", "--profile", "mindproxy")
    assert run.returncode == 0, run.output[-3000:]
    assert {r["level"] for r in run.report["requirements"]} == {"MUST"}
    assert run.verdict == "conformant" and "SHOULD not checked (--level must)" in run.output
    assert "SHOULD 0 passed" not in run.output
