"""The one exit-status rule (`conformance.report.gate`) and the baseline that feeds it, on
hand-made reports: fast, no gateway. The same rule on real runs: tests/test_exit_status.py."""

from __future__ import annotations

import copy

import pytest

from conformance.contract.profiles import load_profile
from conformance.errors import ConfigError
from conformance.report.baseline import apply_baseline, load_baseline
from conformance.report.gate import decide
from conformance.report.json_report import validate_report
from conformance.report.results import Results
from conformance.report.results import TestResult as Result
from conformance.runner.selection import Selection, requirement_files
from tests.test_render import make_report, row


def report_of(*rows: dict) -> dict:
    return make_report(*rows)


@pytest.mark.parametrize("rows,verdict,code", [
    ((row("ENV-1", "passed"), row("SEC-2", "failed", "SHOULD")), "conformant", 0),
    ((row("ENV-1", "failed", reason="x"),), "non-conformant", 1),
    ((row("ENV-1", "passed"), row("MAP-3", "skipped", reason="role no_credit missing")), "incomplete", 1),
    ((row("ENV-1", "inconclusive", reason="no oracle"),), "incomplete", 1),
    ((row("ENV-1", "error", reason="suite error"),), "incomplete", 1),
])
def test_verdict_decides_the_exit_status(rows, verdict, code):
    decision = decide(report_of(*rows))
    assert (decision.verdict, decision.exit_code) == (verdict, code)
    assert "\n" not in decision.why and decision.why.startswith(verdict)


def test_observer_finding_is_named_as_such():
    report = report_of(row("ENV-2", "failed", reason="uncatalogued code"))
    report["requirements"][0]["tests"] = ["conformance/suite/test_x.py::test_y (observer)"]
    decision = decide(report)
    assert decision.exit_code == 1 and "whole-run observer: ENV-2" in decision.why


def test_incomplete_says_why_in_one_line():
    decision = decide(report_of(row("MAP-2", "skipped", reason="not fully checked: 1 of 4 tests deselected (-k 'x')")))
    assert decision.why == "incomplete: not checked: MAP-2 (MAP-2: not fully checked: 1 of 4 tests deselected (-k 'x'))"


def baseline(tmp_path, body: str):
    path = tmp_path / "kd.yaml"
    path.write_text("deviations:\n" + body, encoding="utf-8")
    return load_baseline(path)


def test_baseline_accepts_skipped_and_inconclusive_only_when_asked(tmp_path):
    report = report_of(row("ENV-1", "passed"), row("CHG-1", "inconclusive", reason="no oracle"),
                       row("MAP-3", "skipped", reason="role missing"))
    plain = apply_baseline(copy.deepcopy(report), baseline(tmp_path, "  - {id: CHG-1, reason: a}\n  - {id: MAP-3, reason: b}\n"))
    assert plain["baseline"]["unconfirmed"] == ["CHG-1", "MAP-3"] and decide(plain).exit_code == 1
    accepted = apply_baseline(copy.deepcopy(report), baseline(tmp_path, (
        "  - {id: CHG-1, reason: no oracle on staging, accept: inconclusive}\n"
        "  - {id: MAP-3, reason: no such key on staging, accept: [skipped, failed]}\n")))
    validate_report(accepted)
    assert accepted["baseline"]["known"] == ["CHG-1", "MAP-3"]
    assert accepted["verdict"] == "incomplete" and accepted["baseline"]["verdict"] == "conformant"
    assert decide(accepted).exit_code == 0 and "2 known deviations" in decide(accepted).why


def test_single_test_entries_do_not_hide_a_new_failure(tmp_path):
    node = "conformance/suite/test_mapping.py::test_bad_key_401[{}]"
    report = report_of(row("MAP-2", "failed", reason="x"))
    known = [Result(node.format("wrong_scheme"), "MAP-2", "failed", "x"),
             Result(node.format("unknown"), "MAP-2", "passed")]
    entries = f"  - {{test: '{node.format('wrong_scheme')}', reason: GW-456}}\n  - {{test: 'gone.py::t', reason: old}}\n"
    accepted = apply_baseline(copy.deepcopy(report), baseline(tmp_path, entries), tests=known)
    validate_report(accepted)
    assert accepted["baseline"]["known"] == ["MAP-2"] and decide(accepted).exit_code == 0
    assert accepted["baseline"]["stale"] == ["gone.py::t"]
    new_failure = [*known, Result(node.format("unknown_2"), "MAP-2", "failed", "y")]
    hidden = apply_baseline(copy.deepcopy(report), baseline(tmp_path, entries), tests=new_failure)
    assert hidden["baseline"]["unlisted_failures"] == ["MAP-2"] and decide(hidden).exit_code == 1


def test_stale_requirement_entries_are_reported(tmp_path):
    report = report_of(row("ENV-1", "passed"))
    applied = apply_baseline(report, baseline(tmp_path, "  - {id: ENV-1, reason: a}\n  - {id: PRB-1, reason: b}\n"))
    assert applied["baseline"]["stale"] == ["PRB-1", "ENV-1 (passes now)"]


@pytest.mark.parametrize("body,needle", [
    ("  - {id: ENV-1, reason: a, expires: 2027-02-30}\n", "'2027-02-30' is not a valid date"),
    ("  - {id: ENV-1, reason: a, accept: passed}\n", "accept"),
    ("  - {reason: names neither a requirement nor a test}\n", "deviations[0]"),
])
def test_bad_baseline_entries_are_one_line(tmp_path, body, needle):
    with pytest.raises(ConfigError) as info:
        baseline(tmp_path, body)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_level_should_lists_every_must_as_not_checked():
    profile = load_profile("pyai")
    results = Results(profile, "should")
    rows = results.requirements()
    musts = [r for r in rows if r["level"] == "MUST"]
    assert musts and all(r["status"] == "skipped" and r["reason"] == "not checked (--level should)" for r in musts)
    assert Results.verdict(rows) == "incomplete"


def test_selection_counts_say_how_much_was_not_run():
    selection = Selection(planned={"MAP-2": 4, "ENV-1": 2}, selected={"MAP-2": 3, "ENV-1": 2},
                          files=sorted({f for files in requirement_files().values() for f in files}), keyword="not x")
    reasons = selection.not_fully_checked(["MAP-2", "ENV-1"], {"MAP-2": 3, "ENV-1": 1}, "interrupted")
    assert reasons == {"MAP-2": "1 of 4 tests deselected (-k 'not x')", "ENV-1": "1 of 2 tests not run (interrupted)"}
    partial = Selection(planned={"HDR-4": 1}, selected={"HDR-4": 1}, files=["test_headers.py"])
    assert "test_retry.py" in partial.not_fully_checked(["HDR-4"], {"HDR-4": 1}, None)["HDR-4"]
