"""Session start and end: resolve the run context, start the reference gateway, probe the target,
hand the context to xdist workers, and stop what was started."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.contract.target_config import parse_config
from conformance.errors import ConformanceError
from conformance.report.results import Results
from conformance.runner.context import RunContext, resolve
from conformance.runner.recording import ResultInbox
from conformance.runner.stash import CONTEXT, SELECTION, STATE

PROBE_TIMEOUT_S = 4.0


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
        self.decision: Any = None  # conformance.report.gate.Decision, once the report is built
        self.exit_status: int | None = None  # the status the process returns, once decided

    def stop_reference(self) -> None:
        if self.reference_process is not None:
            self.reference_process.stop()
            self.reference_process = None


def configure_run(config: pytest.Config) -> None:
    """Set up a conformance run (the plugin calls this once it knows it is one)."""
    from conformance.runner.progress import ConformanceReporting

    config.pluginmanager.register(ConformanceReporting(config, not hasattr(config, "workerinput")), "gateway-conformance-reporting")
    from conformance.runner import interrupt

    interrupt.install(config)
    if hasattr(config, "workerinput"):
        context = RunContext.from_workerinput(config.workerinput["gateway_conformance"])
        config.stash[CONTEXT] = context
        return
    config.pluginmanager.register(ResultInbox(config), "gateway-conformance-results")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(config), "gateway-conformance-xdist")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return
    from conformance.runner.tidy import drop_own_rewrite_warnings

    drop_own_rewrite_warnings(config)
    try:
        context = _start(config)
    except ConformanceError as exc:
        _shutdown(config)
        raise pytest.UsageError(str(exc)) from None
    config.stash[CONTEXT] = context
    from conformance.runner.options import ALIASES, yielded_names

    _say_unset_variables(config, context)
    taken = sorted(set(yielded_names(config)))
    if taken:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        note = "gateway-conformance: " + ", ".join(
            f"{name} belongs to another plugin or conftest here (use {ALIASES.get(name, name)})" for name in taken)
        if reporter is not None:
            reporter.write_line(note, yellow=True)


def _say_unset_variables(config: pytest.Config, context: RunContext) -> None:
    """An unset `${VAR}` in an optional role or section makes it unusable and its tests skip: say
    so once, up front, naming each variable and its field — not only deep in the skip reasons.
    (In a required role it already stopped the run as a config error.)"""
    note = context.config.unusable_note()
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if note is not None and reporter is not None:
        reporter.write_line(f"gateway-conformance: {note}", yellow=True)


def _start(config: pytest.Config) -> RunContext:
    context, _ = resolve(config.option)
    state = SessionState(context)
    config.stash[STATE] = state
    baseline = getattr(config.option, "conformance_baseline", None)
    if baseline:
        from conformance.report.baseline import load_baseline

        state.baseline = load_baseline(baseline)
    if context.reference:
        from conformance.reference.gateway_process import ReferenceProcess

        defects = context.defects or [d for d in os.environ.get("GWC_REFERENCE_DEFECTS", "").split(",") if d]
        variants = context.variants or [v for v in os.environ.get("GWC_REFERENCE_VARIANTS", "").split(",") if v]
        process = ReferenceProcess(context.profile_path, defects=defects, variants=variants)
        state.reference_process = process
        process.start()
        assert process.url is not None  # start() returns once the child said `READY <url>`
        context.target_url = process.url
        context.config_ref = str(process.config_path)
        # The document the gateway wrote is already parsed (`start`): read it once, not twice.
        context.config = parse_config(process.config, context.config_ref)
        context.defects = list(defects)
        context.variants = list(variants)
    elif context.defects:
        raise ConformanceError("--reference-defect only applies to --target reference")
    elif context.variants:
        raise ConformanceError("--reference-variant only applies to --target reference")
    _ = context.config  # validate now: a bad config stops the run here, in one line
    state.results.claims = context.claims
    probe(context.target_url, context.config.headers)
    if not context.reference:
        from conformance.runner.preflight import check_json_api

        check_json_api(context.target_url, context.config.headers)
    return context


def probe(url: str, headers: dict[str, str] | None = None) -> None:
    """One cheap request so an unreachable or non-HTTP target fails the run in seconds, not per test."""
    from conformance.transport.client import normalise_base_url
    from conformance.transport.deadline import deadline_transport, within

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

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Each worker collected the same items: the first one's selection counts stand for all."""
        data = getattr(node, "workeroutput", {}).get("gateway_conformance_selection")
        if data is not None and SELECTION not in self.config.stash:
            from conformance.runner.selection import Selection

            self.config.stash[SELECTION] = Selection.from_data(data)


def _shutdown(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.stop_reference()


def pytest_unconfigure(config: pytest.Config) -> None:
    _shutdown(config)
