"""What a CI run needs around the report: the baseline applied, how to reproduce the run, the
Markdown summary on `$GITHUB_STEP_SUMMARY`, and pytest's exit status under a baseline.

Exit status: `conformance.report.gate.decide` — the one rule `gateway-conformance gate` applies to
the written report — decides it: 0 only when the verdict after accepted known deviations is
`conformant`, 1 when it is `non-conformant` or `incomplete`. pytest's own statuses for an
interrupted run, an internal or usage error stay as they are (never 0), and a failed test outside
the conformance suite in the same session still fails it.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.report.baseline import Baseline, apply_baseline
from conformance.report.gate import Decision, decide
from conformance.report.results import TestResult
from conformance.transport.redact import Redactor

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def complete_report(report: dict[str, Any], config: pytest.Config, baseline: Baseline | None,
                    redactor: Redactor, tests: list[TestResult] | None = None) -> dict[str, Any]:
    """Add the baseline section and what is needed to reproduce the run (credentials masked)."""
    if baseline is not None:
        apply_baseline(report, baseline, tests=tests)
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


def set_exit_status(session: pytest.Session, report: dict[str, Any], tests: list[TestResult]) -> Decision:
    """Make pytest's exit status the gate's (see the module docstring); returns the decision."""
    decision = decide(report)
    if session.config.option.collectonly:  # nothing ran: pytest's own status stands
        return decision
    if session.exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        return decision
    suite_failures = sum(1 for t in tests if t.outcome == "failed" and not t.observed)
    foreign_failures = session.testsfailed > suite_failures  # someone else's test in the same session
    if decision.passes and not foreign_failures:
        session.exitstatus = pytest.ExitCode.OK
    elif not decision.passes:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    return decision
