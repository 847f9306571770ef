"""An interrupt is never lost (issue 20): SIGINT at any point ends the run with pytest's status 2,
the verdict `incomplete`, and a closing line that prints the status the process returns.

Each case puts the signal at a deterministic point with `tests/sigint_plugin.py`. Before the
change the swallowed one went on to `exit 0: conformant`, and an interrupted run printed `exit 1`
while returning 2. `bench/interrupts.sh` does the same at random moments.
"""

from __future__ import annotations

import pytest

from tests.conftest import run_suite

pytestmark = pytest.mark.slow
QUIET = {"GITHUB_STEP_SUMMARY": ""}
# Every run here is a fresh process (`fresh_process`), not a fork of the warm server (run_pytest):
# the plugin arms its SIGINT handler as it is imported, which for a fork happened once, in the
# server, under the server's signal disposition (ignored when the self-tests run as a background job).


def _interrupted(tmp_path, spec: str, *args: str):
    run = run_suite(tmp_path, "-p", "tests.sigint_plugin", *args, env={**QUIET, "GWC_SELFTEST_SIGINT": spec},
                    fresh_process=True)
    assert run.returncode == 2, run.output[-3000:]
    assert "exit 2: interrupted; incomplete" in run.output, run.output[-3000:]
    assert run.report is not None and run.verdict == "incomplete", run.output[-3000:]
    assert run.report["selection"]["stopped"] == "interrupted" and not run.report["selection"]["complete"]
    return run


def test_an_interrupt_swallowed_in_a_finaliser_still_ends_the_run(tmp_path):
    """The whole suite (so nothing else makes it incomplete): the signal lands in a `__del__`, where
    Python drops the KeyboardInterrupt; the test it landed in passes, but the run stops after it."""
    run = _interrupted(tmp_path, "finaliser:test_unknown_path_not_found", "-p", "no:randomly")
    assert "Exception ignored" in run.output  # the interrupt really was swallowed
    row = next(r for r in run.report["requirements"] if r["id"] == "MAP-4")
    assert row["status"] == "skipped" and "interrupted" in row["reason"], row
    assert run.report["summary"]["MUST"]["passed"] < sum(run.report["summary"]["MUST"].values())


@pytest.mark.parametrize("spec, keyword", [
    ("fuzzing:test_fuzz_raw_body:3", "test_fuzz_raw_body or test_unknown_path_not_found"),
    ("timer:test_sdk_classifies:0.3", "test_sdk_classifies or test_unknown_path_not_found"),
    ("teardown:test_fuzz_raw_body", "test_fuzz_raw_body or test_unknown_path_not_found"),
], ids=["inside-fuzzing", "inside-the-sdk-test", "during-teardown"])
def test_an_interrupt_anywhere_ends_with_status_2(tmp_path, spec, keyword):
    _interrupted(tmp_path, spec, "-p", "no:randomly", "-k", keyword)


def test_an_interrupt_while_plugins_load_ends_with_status_2(tmp_path):
    """Recorded by the handler the plugin arms at its import, not raised mid-import (status 130)."""
    run = run_suite(tmp_path, "-p", "tests.sigint_plugin", env={**QUIET, "GWC_SELFTEST_SIGINT": "loading:"},
                    fresh_process=True)
    assert run.returncode == 2, run.output[-3000:]
    assert "interrupted during start-up: no report; verdict: incomplete (exit 2)" in run.output, run.output[-3000:]
    assert "Traceback" not in run.output


def test_an_interrupt_after_the_closing_line_changes_nothing_printed(tmp_path):
    """The verdict and status are printed; a signal then must not make the process return another
    status (Python's 130, a traceback) nor be half-swallowed: the printed line is the status."""
    run = run_suite(tmp_path, "-p", "tests.sigint_plugin", "-p", "no:randomly", "-k", "test_unknown_path_not_found",
                    env={**QUIET, "GWC_SELFTEST_SIGINT": "late:"}, fresh_process=True)
    assert f"exit {run.returncode}: " in run.output, run.output[-3000:]
    assert "Traceback" not in run.output and "KeyboardInterrupt" not in run.output, run.output[-3000:]


def test_an_interrupt_pytest_cannot_render_still_ends_with_status_2(tmp_path):
    """pytest's own rendering of the interrupt crashed (TypeError on a frame without a line
    number): the process returned 1 after its closing line said 2."""
    run = run_suite(tmp_path, "-p", "tests.sigint_plugin", "-p", "no:randomly", "-k", "test_fuzz_raw_body",
                    env={**QUIET, "GWC_SELFTEST_SIGINT": "fuzzing:test_fuzz_raw_body:3",
                         "GWC_SELFTEST_SIGINT_UNRENDERABLE": "1"}, fresh_process=True)
    assert run.returncode == 2 and "exit 2: interrupted" in run.output, run.output[-3000:]


def _state(outcomes: dict[str, str]):
    """A finished run's state with one test per applicable requirement, each with the given outcome."""
    from types import SimpleNamespace

    from conformance.contract.profiles import load_profile
    from conformance.report.results import Results, TestResult

    profile = load_profile("pyai")
    results = Results(profile)
    for requirement in results.rows_for():
        outcome = outcomes.get(requirement.id, "passed")
        results.add(TestResult(f"suite/test_x.py::test_{requirement.id}", requirement.id, outcome))
    return SimpleNamespace(results=results, context=SimpleNamespace(profile=profile))


@pytest.mark.parametrize("during", ["suite/test_x.py::test_UPS-8", "closing", "the tests"])
def test_an_interrupted_run_is_never_conformant(during):
    """Run 17 of bench/interrupts.sh: the signal hit a SHOULD's test (or came after the last test),
    every MUST had passed, and the run said `exit 2: interrupted; conformant`."""
    from conformance.report.results import Results
    from conformance.runner.interrupt import Interrupts
    from conformance.runner.summary import _cut_short

    state = _state({})
    _cut_short(state, Interrupts(count=1, during=during))
    assert Results.verdict(state.results.requirements()) == "incomplete"


def test_the_test_an_interrupt_landed_in_has_no_outcome():
    """Runs 5 and 11: the same Ctrl-C stopped the reference gateway, the fuzz test running then saw a
    refused connection and FUZ-1 'failed' — blaming the gateway for the user's interrupt."""
    from conformance.report.results import Results
    from conformance.runner.interrupt import Interrupts
    from conformance.runner.summary import _cut_short

    state = _state({"FUZ-1": "failed"})
    _cut_short(state, Interrupts(count=1, during="suite/test_x.py::test_FUZ-1"))
    rows = {r["id"]: r for r in state.results.requirements()}
    assert rows["FUZ-1"]["status"] == "skipped" and "interrupted while" in rows["FUZ-1"]["reason"]
    assert Results.verdict(list(rows.values())) == "incomplete"
