"""Each test's outcome as a `TestResult`: classified, redacted, with evidence, carried on the report
(so it crosses from xdist workers to the controller)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from conformance import outcomes
from conformance.certify.har import HAR_PROPERTY
from conformance.checks.problem import Problem, ProblemsFound, grouped
from conformance.errors import ConformanceError
from conformance.report.results import OBSERVER_SUFFIX, TestResult
from conformance.runner import failure_text
from conformance.runner.context import RunContext
from conformance.runner.har_recording import har_items
from conformance.runner.selection import in_suite
from conformance.runner.stash import (
    AHEAD_COUNTED,
    CITED,
    CLIENT,
    CONTEXT,
    EXCHANGE_MARK,
    HAR_IDS,
    HAR_PENDING,
    PENDING,
    REDACTOR,
    RESULT_PROPERTY,
    SENT_MARK,
)
from conformance.transport.client import BudgetExhausted, TargetTooSlow
from conformance.transport.redact import Redactor


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    except BudgetExhausted as exc:
        if isinstance(exc, TargetTooSlow):  # the run ends after this test, with this one line
            item.session.shouldstop = str(exc)
        pytest.skip(str(exc))


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: pytest.FixtureRequest) -> Generator[None, Any, Any]:
    """A budget spent while a fixture sets up skips what needs it, like one spent in a test
    (pytest caches a wider-scoped fixture's exception: the cache gets the skip too)."""
    try:
        return (yield)
    except BudgetExhausted as exc:
        try:
            pytest.skip(str(exc))
        except pytest.skip.Exception as skip:
            skip._use_item_location = True  # name the test, not the fixture
            cached = getattr(fixturedef, "cached_result", None)
            if isinstance(cached, tuple) and len(cached) == 3 and cached[2] is not None:
                fixturedef.cached_result = (None, cached[1], (skip, skip.__traceback__))
            raise skip from None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    context = item.config.stash.get(CONTEXT, None)
    if context is None or not in_suite(item):
        return report
    client = item.config.stash.get(CLIENT, None)
    redactor = client.redactor if client is not None else _config_redactor(item.config, context)
    _redact_report(report, redactor)
    marker = item.get_closest_marker("requirement")
    if marker is None:
        return report
    done = call.when == "call" or (call.when == "setup" and report.outcome != "passed")
    if not done:
        return report
    outcome, reason = _classify(report, call)
    problems = call.excinfo.value.problems if outcome == "failed" and call.excinfo is not None and isinstance(
        call.excinfo.value, ProblemsFound) else []
    started = item.stash.get(EXCHANGE_MARK, 0)
    cited = item.stash.get(CITED, [])
    evidence = []
    if outcome == "failed" and client is not None:
        seen = []
        # What was gathered ahead in the background while it ran belongs to the tests that read it.
        for exchange in cited + [e for e in client.exchanges[started:] if e.ahead is None]:
            if exchange not in seen:
                seen.append(exchange)
        # What the test cited is its evidence (a fuzzer's shrunk example, not its last attempt).
        judged = cited[-3:] if cited else seen[-3:]
        evidence = [e.evidence(redactor) for e in judged]
    else:
        judged = []
    if outcome == "failed" and _short_failures(item.config) and call.excinfo is not None:
        report.longrepr = failure_text.render(
            marker.args[0], str(call.excinfo.value), context.profile, judged, redactor, problems)
    har_entries = None
    if client is not None and getattr(item.config.option, "conformance_evidence_har", None):
        har_entries = har_items(item, client, context, redactor, marker.args[0], cited)
    result = TestResult(
        nodeid=item.nodeid,
        requirement=marker.args[0],
        outcome=outcome,
        reason=redactor.text(reason),
        evidence=evidence,
        # Counted from this test's setup on, so requests a session fixture sends for it count too;
        # plus those gathered ahead in the background since the last result (their exchanges are
        # the tests' that read them; the run's count is the sum of the results').
        requests=_sent(item) - item.stash.get(SENT_MARK, 0) + _gathered_ahead(item),
        duration_s=round(report.duration, 4),
        problems=problem_dicts(problems, redactor, item.config),
    )
    report.user_properties.append((RESULT_PROPERTY, result.to_dict()))
    report.user_properties.extend((RESULT_PROPERTY, r.to_dict()) for r in observer_results(item.nodeid, client, item.config))
    if har_entries is not None:
        report.user_properties.append((HAR_PROPERTY, har_entries))
    return report


def problem_dicts(problems: list[Problem], redactor: Redactor | None, config: pytest.Config) -> list[dict[str, Any]]:
    """Typed problems for the report: identical ones once with a `count`, each exchange pointing at
    its `--evidence-har` entry (`har_entry`) when the run records one."""
    entries = config.stash.get(HAR_IDS, {})
    rows = []
    for problem, count in grouped(problems):
        row = problem.to_dict(redactor)
        if count > 1:
            row["count"] = count
        if problem.exchange is not None and id(problem.exchange) in entries:
            row["exchange"]["har_entry"] = entries[id(problem.exchange)]
        rows.append(row)
    return rows


def _short_failures(config: pytest.Config) -> bool:
    """pytest's own traceback only when asked for (`--tb=long`, `--tb=short`, ...): the default is the vendor's view."""
    return getattr(config.option, "tbstyle", "auto") == "auto"


def _config_redactor(config: pytest.Config, context: RunContext) -> Redactor:
    """A redactor for failures that happen before the client exists (e.g. in fixture setup)."""
    redactor = config.stash.get(REDACTOR, None)
    if redactor is None:
        try:
            redactor = Redactor(context.config.secrets())
        except ConformanceError:
            redactor = Redactor()
        config.stash[REDACTOR] = redactor
    return redactor


def _redact_report(report: pytest.TestReport, redactor: Redactor) -> None:
    """Failure output is where credentials would slip out (pytest prints a failing test's fixture
    values, hypothesis prints falsifying examples): mask every known credential in all of it."""
    if report.longrepr is not None and not isinstance(report.longrepr, tuple):
        text = str(report.longrepr)
        masked = redactor.text(text)
        if masked != text:
            report.longrepr = masked
    if report.sections:
        report.sections = [(title, redactor.text(content)) for title, content in report.sections]


def observer_results(nodeid: str, client: Any, config: pytest.Config | None = None) -> list[TestResult]:
    """What the whole-run observer saw during this test, as failed results of the violated requirements."""
    from conformance.runner import observer

    results = []
    watcher = observer.observing(client)
    for finding in watcher.drain() if watcher is not None else []:
        redact = client.redactor if client is not None else None
        extra = len(finding.problems) - 1
        reason = str(finding.problems[0]) + (f" (+{extra} more problem{'s' if extra > 1 else ''})" if extra else "")
        results.append(TestResult(
            nodeid=nodeid + OBSERVER_SUFFIX,
            requirement=finding.requirement,
            outcome="failed",
            reason=_one_line(redact.text(reason) if redact else reason),
            evidence=[e.evidence(redact) for e in finding.exchanges] if redact else [],
            problems=problem_dicts(finding.problems, redact, config) if config is not None else [],
        ))
    return results


def _classify(report: pytest.TestReport, call: pytest.CallInfo[None]) -> tuple[str, str]:
    if report.passed:
        return "passed", ""
    if report.skipped:
        excinfo = call.excinfo
        message = str(excinfo.value) if excinfo is not None else ""
        if excinfo is not None and isinstance(excinfo.value, outcomes.Inconclusive):
            return "inconclusive", _one_line(message.removeprefix("inconclusive: "))
        if excinfo is not None and isinstance(excinfo.value, outcomes.NotApplicable):
            return "not_applicable", _one_line(message.removeprefix("not applicable: "))
        if isinstance(report.longrepr, tuple):
            message = report.longrepr[2]
        return "skipped", _one_line(message.removeprefix("Skipped: "))
    excinfo = call.excinfo
    if call.when == "call" and excinfo is not None and isinstance(excinfo.value, (AssertionError, pytest.fail.Exception)):
        return "failed", _one_line(str(excinfo.value))
    detail = f"{excinfo.type.__name__}: {excinfo.value}" if excinfo is not None else "error"
    return "error", _one_line(f"suite error ({call.when}): {detail}")


def _one_line(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:400]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Marks where the test's requests start. Once the budget is spent, every remaining suite test is
    skipped here, before any fixture or local work (fuzz generation, the SDK's waits): it could not
    send the requests it is for anyway."""
    item.stash[SENT_MARK] = _sent(item)
    item.stash[CITED] = []
    outcomes.collect_citations(item.stash[CITED])
    client = item.config.stash.get(CLIENT, None)
    if client is not None and client.budget.spent and in_suite(item):
        pytest.skip(client.budget.spent_reason())


def pytest_runtest_teardown(item: pytest.Item) -> None:
    outcomes.collect_citations(None)


def _sent(item: pytest.Item) -> int:
    """Requests the run's tests have sent so far (0 before the client's session fixture made it),
    not counting those gathered ahead in the background (`_gathered_ahead`)."""
    client = item.config.stash.get(CLIENT, None)
    return client.budget.sent - client.budget.sent_ahead if client is not None else 0


def _gathered_ahead(item: pytest.Item) -> int:
    """Requests gathered ahead in the background since the last result counted them."""
    client = item.config.stash.get(CLIENT, None)
    if client is None:
        return 0
    sent, counted = client.budget.sent_ahead, item.config.stash.get(AHEAD_COUNTED, 0)
    item.config.stash[AHEAD_COUNTED] = sent
    return sent - counted


class ResultInbox:
    """Collects the results that arrive on test reports (from this process or, under xdist, from the
    workers) before the session state that folds them in exists on every path."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        config.stash[PENDING] = []
        config.stash[HAR_PENDING] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        value: Any  # pytest types a property as object; ours carry the JSON data `record` put there
        for name, value in report.user_properties:
            if name == RESULT_PROPERTY:
                self.config.stash[PENDING].append(value)
            elif name == HAR_PROPERTY:
                self.config.stash[HAR_PENDING].extend(value)
