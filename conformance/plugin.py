"""The pytest plugin (entry point `pytest11: conformance`).

It is inert unless this is a conformance run: one of our options was given, or the paths pytest
was asked to collect include the suite (`conformance/suite`). Installed in someone else's venv it
adds its options to `--help` and does nothing else: no gateway started, no summary printed.
"""

from __future__ import annotations

import importlib.util
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Generator

import httpx
import pytest

from conformance import outcomes
from conformance.client import BudgetExhausted, requests_sent
from conformance.context import DEFAULT_FUZZ_EXAMPLES, REFERENCE, RunContext, resolve
from conformance.errors import ConformanceError
from conformance.redact import Redactor
from conformance.report import build_report, write_report
from conformance.requirements import get as get_requirement
from conformance.resources import SUITE_DIR
from conformance.results import OBSERVER_SUFFIX, Results, TestResult, applicable_requirements, not_covered

CONTEXT = pytest.StashKey[RunContext]()
REDACTOR = pytest.StashKey[Redactor]()
STATE = pytest.StashKey["SessionState"]()
RESULT_PROPERTY = "gateway_conformance"
PROBE_TIMEOUT_S = 4.0


# --- options ------------------------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gateway-conformance", "gateway conformance (see `gateway-conformance --help`)")
    group.addoption("--target", default=None, metavar="URL",
                    help="gateway base URL (with or without /v1), or 'reference' (default) for the bundled reference gateway")
    group.addoption("--profile", default=None, metavar="NAME|PATH",
                    help="contract profile: a shipped id (pyai, mindproxy) or a profile file (default: pyai)")
    group.addoption("--target-config", default=None, metavar="PATH",
                    help="target config YAML/JSON: credentials per role, billing oracle, limits (env GWC_TARGET_CONFIG)")
    group.addoption("--report", dest="conformance_report", default=None, metavar="PATH",
                    help="write the JSON conformance report here")
    group.addoption("--level", dest="conformance_level", default="all", choices=("must", "should", "all"),
                    help="which requirement levels to check (default: all)")
    group.addoption("--max-requests", type=int, default=None, metavar="N",
                    help="never send more than N requests to the target")
    group.addoption("--max-rps", type=float, default=None, metavar="R",
                    help="never send more than R requests per second to the target")
    group.addoption("--allow-billable", action="store_true", default=False,
                    help="allow tests that spend real money on a non-reference target")
    group.addoption("--fuzz-examples", type=int, default=None, metavar="N",
                    help=f"examples per property-based fuzz test (default: {DEFAULT_FUZZ_EXAMPLES}; the seed is --hypothesis-seed)")
    group.addoption("--reference-defect", dest="reference_defects", action="append", default=None, metavar="NAME",
                    help="start the reference gateway with this defect switched on (self-tests, demos)")
    group.addoption("--baseline", dest="conformance_baseline", default=None, metavar="PATH",
                    help="known deviations (YAML): listed failures are reported as known and do not fail the run")


_OUR_OPTIONS = ("target", "profile", "target_config", "conformance_report", "max_requests", "max_rps",
                "reference_defects", "conformance_baseline", "fuzz_examples")


def is_conformance_run(config: pytest.Config) -> bool:
    if hasattr(config, "workerinput"):
        return "gateway_conformance" in config.workerinput  # type: ignore[attr-defined]
    if any(getattr(config.option, name, None) for name in _OUR_OPTIONS):
        return True
    if config.getoption("conformance_level") != "all" or config.getoption("allow_billable"):
        return True
    return any(_touches_suite(arg, config) for arg in config.args)


def _touches_suite(arg: str, config: pytest.Config) -> bool:
    target = arg.split("::")[0]
    path: Path | None = None
    if config.option.pyargs:
        try:
            spec = importlib.util.find_spec(target)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            origin = Path(spec.origin)
            path = origin.parent if origin.name == "__init__.py" else origin
    if path is None:
        path = Path(config.invocation_params.dir, target)
    try:
        path = path.resolve()
    except OSError:
        return False
    suite = SUITE_DIR.resolve()
    return path == suite or suite in path.parents or path in suite.parents


# --- session lifecycle --------------------------------------------------------------------------

class SessionState:
    """What the controller keeps for the summary and the report."""

    def __init__(self, context: RunContext) -> None:
        self.context = context
        self.started_at = datetime.now(timezone.utc)
        self.started = time.monotonic()
        self.reference_process: Any = None
        self.results = Results(context.profile, context.level)
        self.report_written: Path | None = None
        self.baseline: Any = None
        self.report: dict[str, Any] | None = None
        self.accepted = False

    def stop_reference(self) -> None:
        if self.reference_process is not None:
            self.reference_process.stop()
            self.reference_process = None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requirement(id): the conformance requirement (SPEC.md id, e.g. HDR-2) this test checks"
    )
    config.addinivalue_line(
        "markers", "not_applicable(reason): a case the profile has none of (deselected, never reported as skipped)"
    )
    if not is_conformance_run(config):
        return
    from conformance.progress import ConformanceReporting

    config.pluginmanager.register(ConformanceReporting(config, not hasattr(config, "workerinput")), "gateway-conformance-reporting")
    if hasattr(config, "workerinput"):
        context = RunContext.from_workerinput(config.workerinput["gateway_conformance"])  # type: ignore[attr-defined]
        config.stash[CONTEXT] = context
        return
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(config), "gateway-conformance-xdist")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput") or not is_conformance_run(config):
        return
    try:
        context = _start(config)
    except ConformanceError as exc:
        _shutdown(config)
        raise pytest.UsageError(str(exc)) from None
    config.stash[CONTEXT] = context


def _start(config: pytest.Config) -> RunContext:
    context, _ = resolve(config.option)
    state = SessionState(context)
    config.stash[STATE] = state
    if config.getoption("conformance_baseline"):
        from conformance.baseline import load_baseline

        state.baseline = load_baseline(config.getoption("conformance_baseline"))
    if context.reference:
        from conformance.reference.server import ReferenceProcess

        defects = context.defects or [d for d in os.environ.get("GWC_REFERENCE_DEFECTS", "").split(",") if d]
        process = ReferenceProcess(context.profile_path, defects=defects)
        state.reference_process = process
        process.start()
        context.target_url = process.url
        context.config_ref = str(process.config_path)
        context.defects = list(defects)
    elif context.defects:
        raise ConformanceError("--reference-defect only applies to --target reference")
    context.config  # validate now: a bad config stops the run here, in one line
    probe(context.target_url, context.config.headers)
    return context


def probe(url: str, headers: dict[str, str] | None = None) -> None:
    """One cheap request so an unreachable or non-HTTP target fails the run in seconds, not per test."""
    from conformance.client import normalise_base_url

    from conformance.deadline import deadline_transport, within

    base = normalise_base_url(url)
    try:  # one overall deadline (a target dripping its headers byte by byte too); the body is not read
        with httpx.Client(timeout=httpx.Timeout(PROBE_TIMEOUT_S), follow_redirects=False, trust_env=False,
                          transport=deadline_transport()) as http, within(PROBE_TIMEOUT_S):
            with http.stream("GET", base + "/v1/models", headers=headers or {}):
                pass
    except httpx.TimeoutException:
        raise ConformanceError(f"cannot reach target {base}: no answer within {PROBE_TIMEOUT_S:g} s") from None
    except httpx.ConnectError as exc:
        reason = str(exc.__cause__ or exc) or "connection failed"
        if "refused" in reason.lower():
            reason = "connection refused"
        raise ConformanceError(f"cannot reach target {base}: {reason}") from None
    except (httpx.RemoteProtocolError, httpx.LocalProtocolError) as exc:
        raise ConformanceError(f"target {base} does not speak HTTP: {exc}") from None
    except (httpx.ReadError, httpx.WriteError) as exc:
        detail = str(exc.__cause__ or exc) or type(exc).__name__
        raise ConformanceError(f"target {base} does not speak HTTP: it closed the connection ({detail})") from None
    except httpx.HTTPError as exc:
        raise ConformanceError(f"cannot reach target {base}: {type(exc).__name__}: {exc}") from None


class _XdistHooks:
    """Hand each worker the resolved context (and its share of the request budget)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_configure_node(self, node: Any) -> None:
        context = self.config.stash.get(CONTEXT, None)
        if context is None:
            return
        workers = int(getattr(self.config.option, "numprocesses", 1) or 1)
        node.workerinput["gateway_conformance"] = context.per_worker(max(1, workers)).to_workerinput()


def _shutdown(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.stop_reference()


def pytest_unconfigure(config: pytest.Config) -> None:
    _shutdown(config)


# --- collection ---------------------------------------------------------------------------------

def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    context = config.stash.get(CONTEXT, None)
    if context is None:
        return
    applicable = {r.id for r in applicable_requirements(context.profile, context.level)}
    keep, drop = [], []
    for item in items:
        markers = list(item.iter_markers("requirement"))
        if not _in_suite(item):
            keep.append(item)
            continue
        if len(markers) != 1 or len(markers[0].args) != 1:
            raise pytest.UsageError(f"{item.nodeid}: a conformance test needs exactly one @pytest.mark.requirement(ID)")
        requirement_id = markers[0].args[0]
        if get_requirement(requirement_id) is None:
            raise pytest.UsageError(f"{item.nodeid}: unknown requirement id {requirement_id!r} (not in the registry)")
        if item.get_closest_marker("not_applicable") is not None:  # e.g. realtime cases of a profile without them
            drop.append(item)
            continue
        (keep if requirement_id in applicable else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _in_suite(item: pytest.Item) -> bool:
    path = Path(str(item.path)).resolve()
    return SUITE_DIR.resolve() in path.parents


# --- running ------------------------------------------------------------------------------------

@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    except BudgetExhausted as exc:
        pytest.skip(str(exc))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    context = item.config.stash.get(CONTEXT, None)
    if context is None or not _in_suite(item):
        return report
    client = getattr(item, "_gwc_client", None)
    redactor = client.redactor if client is not None else _config_redactor(item.config, context)
    _redact_report(report, redactor)
    marker = item.get_closest_marker("requirement")
    if marker is None:
        return report
    done = call.when == "call" or (call.when == "setup" and report.outcome != "passed")
    if not done:
        return report
    outcome, reason = _classify(report, call)
    started = getattr(item, "_gwc_exchange_mark", 0)
    cited = outcomes.take_cited()
    evidence = []
    if outcome == "failed" and client is not None:
        seen = []
        for exchange in cited + client.exchanges[started:]:
            if exchange not in seen:
                seen.append(exchange)
        # What the test cited is its evidence (a fuzzer's shrunk example, not its last attempt).
        evidence = [e.evidence(redactor) for e in (cited[-3:] if cited else seen[-3:])]
    result = TestResult(
        nodeid=item.nodeid,
        requirement=marker.args[0],
        outcome=outcome,
        reason=redactor.text(reason),
        evidence=evidence,
        # Counted from this test's setup on, so requests a session fixture sends for it count too.
        requests=requests_sent() - getattr(item, "_gwc_sent_mark", requests_sent()),
        duration_s=round(report.duration, 4),
    )
    report.user_properties.append((RESULT_PROPERTY, result.to_dict()))
    report.user_properties.extend((RESULT_PROPERTY, r.to_dict()) for r in observer_results(item.nodeid, client))
    return report


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


def observer_results(nodeid: str, client: Any) -> list[TestResult]:
    """What the whole-run observer saw during this test, as failed results of the violated requirements."""
    from conformance import observer

    results = []
    for finding in observer.drain():
        redact = client.redactor if client is not None else None
        reason = finding.problems[0] + (f" (+{len(finding.problems) - 1} more)" if len(finding.problems) > 1 else "")
        results.append(TestResult(
            nodeid=nodeid + OBSERVER_SUFFIX,
            requirement=finding.requirement,
            outcome="failed",
            reason=_one_line(redact.text(reason) if redact else reason),
            evidence=[e.evidence(redact) for e in finding.exchanges] if redact else [],
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


def pytest_runtest_setup(item: pytest.Item) -> None:
    outcomes.take_cited()
    item._gwc_sent_mark = requests_sent()  # type: ignore[attr-defined]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, value in report.user_properties:
        if name == RESULT_PROPERTY:
            _pending.append(value)


# Results arrive here (from this process or, under xdist, from the workers' reports) before the
# session state that folds them in exists on every path; they are folded in at session finish.
_pending: list[dict[str, Any]] = []


# --- end of the run -----------------------------------------------------------------------------

def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(STATE, None)
    if state is None or hasattr(config, "workerinput"):
        return
    state.results.extend(TestResult.from_dict(v) for v in _pending)
    _pending.clear()
    context = state.context
    from conformance import ci
    from conformance.redact import Redactor

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
    from conformance.baseline import summary_line

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
