"""End of the run: fold the results into the report, write it, print the verdict."""

from __future__ import annotations

import time
from typing import Any

import pytest

from conformance.errors import ConformanceError
from conformance.report.json_report import build_report, write_report
from conformance.report.results import Results, TestResult, not_covered
from conformance.runner import interrupt
from conformance.runner.context import REFERENCE
from conformance.runner.selection import Selection
from conformance.runner.session import SessionState
from conformance.runner.stash import PENDING, SELECTION, STATE


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput"):  # hand the controller what this worker's collection selected
        selection = config.stash.get(SELECTION, None)
        if selection is not None and hasattr(config, "workeroutput"):
            config.workeroutput["gateway_conformance_selection"] = selection.to_data()
        return
    state = config.stash.get(STATE, None)
    if state is None:
        return
    pending = config.stash.get(PENDING, [])
    state.results.extend(TestResult.from_dict(v) for v in pending)
    pending.clear()
    context = state.context
    from conformance.report import ci
    from conformance.transport.redact import Redactor

    selection = config.stash.get(SELECTION, None)
    interrupts = interrupt.of(config)
    stopped = _stopped(session, session.exitstatus)  # interrupt.pytest_sessionfinish ran first: 2 if one came
    if selection is not None:
        state.results.not_claimed_tests = dict(selection.not_claimed)
        applicable = [r.id for r in state.results.rows_for()]
        state.results.unchecked = selection.not_fully_checked(applicable, state.results.ran(), stopped)
    if interrupts is not None and interrupts.happened:
        _cut_short(state, interrupts)
    report = _build(state)
    report["selection"] = _selection_record(selection, context.level, stopped, state.results.unchecked)
    report = state.report = ci.complete_report(report, config, state.baseline, Redactor(context.config.secrets()),
                                               tests=state.results.tests)
    state.decision = ci.set_exit_status(session, report, state.results.tests)
    state.exit_status = int(session.exitstatus)  # what the process returns: the closing line prints it
    ci.write_step_summary(report)
    if context.report_path:
        try:
            state.report_written = write_report(report, context.report_path)
        except (OSError, ConformanceError) as exc:
            config.get_terminal_writer().line(f"gateway-conformance: could not write the report: {exc}", red=True)
    try:
        from conformance.runner.har_recording import write_har

        write_har(config, context.target_url)
    except OSError as exc:
        config.get_terminal_writer().line(f"gateway-conformance: could not write the HAR: {exc}", red=True)
    state.stop_reference()


def _stopped(session: pytest.Session, exitstatus: int) -> str | None:
    """Why the run ended before every selected test ran, if it did."""
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "interrupted"
    for reason in (session.shouldfail, session.shouldstop):
        if reason:
            return str(reason) if isinstance(reason, str) else "run stopped early"
    return None


def _cut_short(state: SessionState, interrupts: interrupt.Interrupts) -> None:
    """An interrupted run is `incomplete`, whatever it got to. The test the signal landed in has no
    outcome to trust (the same Ctrl-C reaches the reference gateway, so it may have seen a refused
    connection; its own interrupt may have been swallowed): it counts as skipped, and so does its
    requirement. If that leaves every MUST checked (the signal hit a SHOULD's test, or came after
    the last test), every MUST counts as not fully checked: the run did not finish."""
    where = "interrupted " + interrupts.where()
    for test in state.results.tests:
        if interrupts.during and test.nodeid.startswith(interrupts.during):  # and its observer findings
            test.outcome, test.reason, test.evidence = "skipped", where, []
            state.results.unchecked.setdefault(test.requirement, where)
    profile_id = state.context.profile.id
    # The MUSTs the verdict counts (contract and rfc): an interrupt in a practice test must still
    # leave the run incomplete.
    musts = [r.id for r in state.results.rows_for()
             if r.level_for(profile_id) == "MUST" and not r.basis(profile_id).is_practice]
    if not any(rid in state.results.unchecked for rid in musts):
        state.results.unchecked.update({rid: where + " (the run did not finish)" for rid in musts})


def _selection_record(selection: Selection | None, level: str, stopped: str | None,
                      unchecked: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {"complete": not unchecked and level == "all" and not stopped, "level": level,
                              "stopped": stopped, "not_fully_checked": dict(unchecked)}
    if selection is not None:
        record.update(args=selection.args, keyword=selection.keyword, markexpr=selection.markexpr,
                      deselect=selection.deselect, last_failed=selection.last_failed)
    return record


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
                 "allow_billable": context.allow_billable, "defects": context.defects,
                 "require_practice": context.require_practice},
    )


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or hasattr(config, "workerinput"):
        return
    if not state.results.tests and state.exit_status != pytest.ExitCode.INTERRUPTED:
        return  # an interrupted run says so even when no test got to an outcome
    context = state.context
    rows = state.results.requirements()
    verdict = Results.verdict(rows)
    summary = state.results.summary(rows)
    tw = terminalreporter
    target = f"reference gateway ({context.target_url})" if context.reference else context.target_url
    tw.section(f"gateway-conformance: {context.profile.id} @ {target}", sep="=", bold=True)
    colour = {"conformant": {"green": True}, "non-conformant": {"red": True}, "incomplete": {"yellow": True}}[verdict]
    from conformance.report import grade

    claims = state.results.claims
    tw.line(f"verdict: {verdict}", bold=True, **colour)
    if claims is not None:  # `pyai: conformant — core, billing; not claimed: upstream`
        scoped = f"{context.profile.id}: {verdict} — {', '.join(claims.claimed)}"
        if claims.not_claimed:
            scoped += f"; not claimed: {', '.join(claims.not_claimed)}"
        tw.line(scoped, **colour)
    for note in claims.notes if claims is not None else ():
        tw.line(note, yellow=True)
    from conformance.report.baseline import summary_line

    baseline = summary_line(state.report) if state.report else None
    if baseline:
        tw.line(baseline, yellow=True)
    for level in ("MUST", "SHOULD"):
        if level == "SHOULD" and context.level == "must":
            tw.line("SHOULD not checked (--level must)")
            continue
        counts = summary[level]
        parts = [f"{counts[k]} {k.replace('_', ' ')}" for k in ("passed", "failed", "skipped", "inconclusive", "error", "not_claimed")
                 if counts[k] or k == "passed"]
        tw.line(f"{level:<7}{', '.join(parts)}")
    contract = [r for r in rows if not grade.is_practice(r) and grade.claimed(r)]
    for level in ("MUST", "SHOULD"):  # name them, SHOULDs too: counts alone hide which one
        for status in ("failed", "error", "inconclusive", "skipped"):
            ids = [r for r in contract if r["level"] == level and r["status"] == status]
            if level == "SHOULD" and context.level == "must":
                continue
            if ids:
                tw.line(f"{status} {level}: " + ", ".join(r["id"] for r in ids),
                        red=status == "failed" and level == "MUST", yellow=not (status == "failed" and level == "MUST"))
                for row in ids[:10]:
                    tw.line(f"  {row['id']}: {row['reason']}")
    practice = grade.practice_grade(rows)
    if practice["total"]:
        required = context.require_practice
        line = f"beyond the contract: {practice['kept']} of {practice['total']} kept" + (" (required: --require-practice)" if required else "")
        tw.line(line, **({"green": True} if practice["kept"] == practice["total"] else {"yellow": True}))
        for row in rows:
            if grade.is_practice(row) and row["status"] not in ("passed", grade.NOT_CLAIMED):
                basis = row["basis"]
                tw.line(f"  {row['id']} ({row['level']}, {row['status']}): {row['reason']}")
                tw.line(f"    why the suite asks it: {basis.get('rationale', '')} [{basis.get('cite', '')}]")
    uncovered = not_covered(context.profile)
    if uncovered:
        tw.line(f"not covered by this suite version: {', '.join(uncovered)}")
    selection = config.stash.get(SELECTION, None)
    if selection is not None and selection.by_design:
        # pytest's last line counts them among "N deselected": say why, so nobody hunts for them
        left_out = f"requirements or cases {context.profile.id} does not have" + (
            f", or what --level {context.level} leaves out" if context.level != "all" else "")
        tw.line(f"{selection.by_design} deselected by design ({left_out}): never counted as not checked")
    tw.line(f"requests sent: {state.results.requests_sent}")
    if state.report_written:
        tw.line(f"report: {state.report_written}")
    decision = getattr(state, "decision", None)
    if decision is not None:
        exit_code = state.exit_status if state.exit_status is not None else decision.exit_code
        why = decision.why if exit_code != pytest.ExitCode.INTERRUPTED else f"interrupted; {decision.why}"
        tw.line(f"exit {exit_code}: {why}", bold=True, **({"green": True} if exit_code == 0 else {"red": True}))
