"""A gate you can bet a deploy on, end to end: the cases of issue 15, each a real run against the
reference gateway, and on each the exit status of `pytest` and of `gateway-conformance gate` on
its report agree (one rule: conformance.report.gate).

Before the change each of these exited 0 or said `conformant` while a MUST was not checked, or
crashed, or ran the self-tests too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conformance.reference.gateway_process import ReferenceProcess
from tests.conftest import CHILD_TIMEOUT_S, REPO, SuiteRun, run_suite

QUIET = {"GITHUB_STEP_SUMMARY": ""}


def gate(tmp_path: Path, run: SuiteRun) -> int:
    """`gateway-conformance gate` on the run's report: its exit status."""
    assert run.report is not None, run.output[-3000:]
    path = tmp_path / "gated.json"
    path.write_text(json.dumps(run.report), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "conformance", "gate", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert done.stdout.strip().splitlines()[-1].startswith("gate: "), done.stdout + done.stderr
    return done.returncode


def agree(tmp_path: Path, run: SuiteRun, code: int, verdict: str) -> None:
    assert run.report is not None, run.output[-3000:]
    assert (run.returncode, run.verdict) == (code, verdict), run.output[-3000:]
    assert gate(tmp_path, run) == code
    assert f"exit {code}: {verdict}" in run.output  # the closing summary says why, in one line
    assert "Traceback" not in run.output


def test_level_should_never_certifies_the_musts(tmp_path):
    run = run_suite(tmp_path, "--level", "should", defects=("html_404",), env=QUIET)
    # The whole-run observer still sees the HTML 404 (ENV-1); the targeted MUSTs were not checked.
    agree(tmp_path, run, 1, "non-conformant")
    assert run.status("MAP-4") == "skipped" and run.report["summary"]["MUST"]["passed"] == 0
    assert run.report["selection"]["level"] == "should" and not run.report["selection"]["complete"]


def test_deselected_case_of_a_must_is_not_a_pass(tmp_path):
    run = run_suite(tmp_path, "-k", "not wrong_scheme", defects=("wrong_scheme_accepted_as_400",), env=QUIET)
    agree(tmp_path, run, 1, "incomplete")
    row = next(r for r in run.report["requirements"] if r["id"] == "MAP-2")
    assert row["status"] == "skipped" and "1 of 4 tests deselected (-k 'not wrong_scheme')" in row["reason"], row
    assert run.report["selection"]["keyword"] == "not wrong_scheme"
    assert "MAP-2" in run.report["selection"]["not_fully_checked"]


def test_observer_only_violation_fails_the_run(tmp_path):
    run = run_suite(tmp_path, "-k", "not daily_cap_exceeded", defects=("uncatalogued_code",), env=QUIET)
    agree(tmp_path, run, 1, "non-conformant")
    row = next(r for r in run.report["requirements"] if r["id"] == "ENV-2")
    assert row["status"] == "failed" and any(t.endswith("(observer)") for t in row["tests"]), row
    assert "whole-run observer" in run.output


def test_every_role_unset_is_incomplete_and_red(tmp_path):
    with ReferenceProcess("pyai") as gateway:
        config = tmp_path / "target.yaml"
        config.write_text(f"target: {gateway.url}\n", encoding="utf-8")
        run = run_suite(tmp_path, "--target-config", str(config), env=QUIET)
    agree(tmp_path, run, 1, "incomplete")
    assert run.report["summary"]["MUST"]["skipped"] > 0


def test_budget_spent_mid_run_skips_what_is_left(tmp_path):
    run = run_suite(tmp_path, "--max-requests", "40", env=QUIET)
    agree(tmp_path, run, 1, "incomplete")
    assert "suite error" not in run.output and " error" not in run.output.splitlines()[-1]
    reasons = [r["reason"] for r in run.report["requirements"] if r["status"] == "skipped"]
    assert any(reason.startswith("budget spent") for reason in reasons), reasons
    assert run.report["summary"]["MUST"]["error"] == 0


def test_interrupted_run_is_incomplete(tmp_path):
    plugin = tmp_path / "gwc_interrupt.py"
    plugin.write_text("import pytest\n\n_seen = []\n\n@pytest.hookimpl(tryfirst=True)\ndef pytest_runtest_call(item):\n"
                      "    _seen.append(item)\n    if len(_seen) == 40:\n        raise KeyboardInterrupt\n", encoding="utf-8")
    env = {**QUIET, "PYTHONPATH": os.pathsep.join([str(REPO), str(tmp_path)])}
    run = run_suite(tmp_path, "-p", "gwc_interrupt", env=env)
    assert run.returncode == 2 and run.verdict == "incomplete", run.output[-3000:]
    assert run.report["selection"]["stopped"] == "interrupted"
    assert any("not run (interrupted)" in r["reason"] for r in run.report["requirements"]), run.report["requirements"]
    assert gate(tmp_path, run) == 1


def readme_command(tmp_path: Path) -> list[str]:
    """`--report PATH --baseline PATH` with a space, files under a temp dir that already exist."""
    report = tmp_path / "elsewhere" / "r.json"
    report.parent.mkdir()
    report.write_text("{}", encoding="utf-8")
    baseline = tmp_path / "elsewhere" / "kd.yaml"
    baseline.write_text("deviations:\n  - {id: HDR-2, reason: demo}\n", encoding="utf-8")
    return [sys.executable, "-m", "pytest", "--co", "-q", "--report", str(report), "--baseline", str(baseline)]


def test_readme_command_from_a_subdirectory_collects_exactly_the_suite(tmp_path):
    done = subprocess.run(readme_command(tmp_path), cwd=REPO / "docs", capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    ids = [line for line in done.stdout.splitlines() if "::" in line]
    assert ids and all(i.startswith("conformance/suite/") for i in ids), ids[:5]


def test_readme_command_outside_the_repository_says_what_to_type(tmp_path):
    done = subprocess.run(readme_command(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    output = done.stdout + done.stderr
    assert done.returncode == 4, output[-3000:]
    assert "gateway-conformance run" in output and "--pyargs conformance.suite" in output
    assert "collected 0 items" not in output and "Traceback" not in output


NEIGHBOUR_CONFTEST = '''
def pytest_addoption(parser):
    parser.addoption("--profile", action="store_true", default=False)
    parser.addoption("--target", default="prod")
    parser.addoption("--report", default=None)
    parser.addoption("--level", default="1")
'''
NEIGHBOUR_TEST = '''
def test_owns_its_options(pytestconfig):
    assert pytestconfig.getoption("profile") is True
    assert pytestconfig.getoption("target") == "staging"
    assert pytestconfig.getoption("level") == "3"
'''
PROFILING_LIKE = '''
def pytest_addoption(parser):
    group = parser.getgroup("Profiling")
    group.addoption("--profile", action="store_true", help="like pytest-profiling")
'''


def test_a_project_owning_our_option_names_still_runs(tmp_path):
    (tmp_path / "conftest.py").write_text(NEIGHBOUR_CONFTEST, encoding="utf-8")
    (tmp_path / "test_theirs.py").write_text(NEIGHBOUR_TEST, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--profile",
                           "--target", "staging", "--level", "3"], cwd=tmp_path, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout and "gateway-conformance" not in done.stdout


def test_beside_a_plugin_owning_profile_our_run_uses_the_alias(tmp_path):
    (tmp_path / "profiling_like.py").write_text(PROFILING_LIKE, encoding="utf-8")
    env = {**os.environ, **QUIET, "PYTHONPATH": os.pathsep.join([str(REPO), str(tmp_path)])}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    theirs = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "profiling_like", "-p", "no:cacheprovider",
                             "--profile", "--co", str(REPO / "tests" / "test_gate.py")],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert theirs.returncode == 0, theirs.stdout[-2000:] + theirs.stderr[-2000:]
    ours = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "profiling_like", "--co",
                           "--gwc-profile", "mindproxy"], cwd=REPO, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert ours.returncode == 0, ours.stdout[-2000:] + ours.stderr[-2000:]
    assert "conformance/suite/" in ours.stdout
