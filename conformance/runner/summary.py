"""End of the run: fold the results into the report, write it, print the verdict."""

from __future__ import annotations

import time
from typing import Any

import pytest

from conformance.runner.context import REFERENCE
from conformance.errors import ConformanceError
from conformance.report.json_report import build_report, write_report
from conformance.report.results import Results, TestResult, not_covered
from conformance.runner.session import SessionState
from conformance.runner.stash import PENDING, STATE


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(STATE, None)
    if state is None or hasattr(config, "workerinput"):
        return
    pending = config.stash.get(PENDING, [])
    state.results.extend(TestResult.from_dict(v) for v in pending)
    pending.clear()
    context = state.context
    from conformance.report import ci
    from conformance.transport.redact import Redactor

    report = state.report = ci.complete_report(_build(state), config, state.baseline, Redactor(context.config.secrets()))
    state.accepted = ci.accept_known_failures(session, report, state.results.tests)
    ci.write_step_summary(report)
    if context.report_path:
        try:
            state.report_written = write_report(report, context.report_path)
        except (OSError, ConformanceError) as exc:
            config.get_terminal_writer().line(f"gateway-conformance: could not write the report: {exc}", red=True)
    state.stop_reference()


def _build(state: SessionState) -> dict[str, Any]:
    context = state.context
    return build_report(
        state.results,
        profile=context.profile,
        target_url=REFERENCE if context.reference else context.target_url,
        reference=context.reference,
        started_at=state.started_at,
        duration_s=time.monotonic() - state.started,
        options={"level": context.level, "max_requests": context.max_requests, "max_rps": context.max_rps,
                 "allow_billable": context.allow_billable, "defects": context.defects},
    )


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or hasattr(config, "workerinput"):
        return
    if not state.results.tests:
        return
    context = state.context
    rows = state.results.requirements()
    verdict = Results.verdict(rows)
    summary = state.results.summary(rows)
    tw = terminalreporter
    target = f"reference gateway ({context.target_url})" if context.reference else context.target_url
    tw.section(f"gateway-conformance: {context.profile.id} @ {target}", sep="=", bold=True)
    colour = {"conformant": {"green": True}, "non-conformant": {"red": True}, "incomplete": {"yellow": True}}[verdict]
    tw.line(f"verdict: {verdict}", bold=True, **colour)
    from conformance.report.baseline import summary_line

    baseline = summary_line(state.report) if state.report else None
    if baseline:
        tw.line(baseline + (" — the run passes" if state.accepted else ""), yellow=True)
    for level in ("MUST", "SHOULD"):
        counts = summary[level]
        parts = [f"{counts[k]} {k}" for k in ("passed", "failed", "skipped", "inconclusive", "error") if counts[k] or k == "passed"]
        tw.line(f"{level:<7}{', '.join(parts)}")
    for status in ("failed", "error", "inconclusive", "skipped"):
        ids = [r for r in rows if r["level"] == "MUST" and r["status"] == status]
        if ids:
            tw.line(f"{status} MUST: " + ", ".join(r["id"] for r in ids), red=status == "failed", yellow=status != "failed")
            for row in ids[:10]:
                tw.line(f"  {row['id']}: {row['reason']}")
    uncovered = not_covered(context.profile)
    if uncovered:
        tw.line(f"not covered by this suite version: {', '.join(uncovered)}")
    tw.line(f"requests sent: {state.results.requests_sent}")
    if state.report_written:
        tw.line(f"report: {state.report_written}")
