"""What a CI run needs around the report: the baseline applied, how to reproduce the run, the
Markdown summary on `$GITHUB_STEP_SUMMARY`, and pytest's exit status under a baseline.

Exit status: pytest exits 1 when any test failed. With `--baseline`, when every failed test
belongs to a requirement the baseline accepts (state `known`) and nothing crashed in the suite,
the session's exit status becomes 0 — the run passes, and the report still says `non-conformant`
with `baseline.verdict` beside it. A suite crash (`error`) or any failure not listed keeps it 1.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.report.baseline import Baseline, apply_baseline, known_ids
from conformance.transport.redact import Redactor
from conformance.report.results import TestResult

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def complete_report(report: dict[str, Any], config: pytest.Config, baseline: Baseline | None,
                    redactor: Redactor) -> dict[str, Any]:
    """Add the baseline section and what is needed to reproduce the run (credentials masked)."""
    if baseline is not None:
        apply_baseline(report, baseline)
    args = [redactor.text(a) for a in config.invocation_params.args]
    seed = getattr(config.option, "hypothesis_seed", None)
    report["reproduce"] = {
        "command": "pytest " + shlex.join(args) if args else "pytest",
        "hypothesis_seed": seed if seed is None or isinstance(seed, int) else str(seed),
    }
    return report


def write_step_summary(report: dict[str, Any], env: dict[str, str] | None = None) -> Path | None:
    """Append the Markdown summary to `$GITHUB_STEP_SUMMARY` (GitHub Actions) when it is set."""
    target = (os.environ if env is None else env).get(STEP_SUMMARY_ENV)
    if not target:
        return None
    from conformance.report.render.markdown import render_markdown

    path = Path(target)
    try:
        with path.open("a", encoding="utf-8") as out:
            out.write(render_markdown(report) + "\n")
    except OSError as exc:  # a summary we cannot write must not turn a passing run red
        print(f"gateway-conformance: could not append to ${STEP_SUMMARY_ENV} ({path}): {exc.strerror or exc}", file=sys.stderr)
        return None
    return path


def accept_known_failures(session: pytest.Session, report: dict[str, Any], tests: list[TestResult]) -> bool:
    """Exit 0 when the only failures are accepted known deviations (see the module docstring)."""
    if "baseline" not in report or session.exitstatus != pytest.ExitCode.TESTS_FAILED:
        return False
    failed = [t for t in tests if t.outcome == "failed"]
    if not failed or any(t.outcome == "error" for t in tests):
        return False
    known = known_ids(report)
    failed_tests = [t for t in failed if not t.observed]  # observer findings are not pytest failures
    if session.testsfailed != len(failed_tests) or any(t.requirement not in known for t in failed):
        return False
    session.exitstatus = pytest.ExitCode.OK
    return True
