"""Fixtures the conformance tests share: the run context, one client, the scenario book.

Loaded only when the suite itself is collected, so the plugin stays inert everywhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from conformance.checks.problem import Problem, ProblemsFound, as_problems, shared_citation
from conformance.contract.profiles import Profile, load_profile
from conformance.contract.requirements import get as get_requirement
from conformance.contract.target_config import TargetConfig
from conformance.fuzzing import draw_ahead
from conformance.fuzzing.billed_rejections import rejection_draw
from conformance.fuzzing.openapi import OPENAPI_FUZZ_TEST, openapi_draws
from conformance.outcomes import billable_reason, cite, inconclusive
from conformance.runner.context import DEFAULT_PROFILE, RunContext
from conformance.runner.observer import attach_observer
from conformance.runner.stash import AHEAD_PLAN, CLIENT, CONTEXT, EXCHANGE_MARK
from conformance.scenarios.inference import ScenarioBook, build_scenarios, name_for
from conformance.scenarios.scenario import ScenarioInconclusive, ScenarioUnavailable
from conformance.transport.client import Exchange, GatewayClient, RequestBudget
from conformance.transport.redact import Redactor


def _context(config: pytest.Config) -> RunContext | None:
    return config.stash.get(CONTEXT, None)


def collection_profile(config: pytest.Config) -> Profile:
    """The profile used to parametrize tests at collection time (ids must be known before fixtures)."""
    context = _context(config)
    return context.profile if context is not None else load_profile(DEFAULT_PROFILE)


@pytest.fixture(scope="session")
def run_context(request: pytest.FixtureRequest) -> RunContext:
    context = _context(request.config)
    if context is None:
        pytest.skip("not a conformance run (no run context)")
    return context


@pytest.fixture(scope="session")
def profile(run_context: RunContext) -> Profile:
    return run_context.profile


@pytest.fixture(scope="session")
def target_config(run_context: RunContext) -> TargetConfig:
    return run_context.config


@pytest.fixture(scope="session")
def redactor(target_config: TargetConfig) -> Redactor:
    redactor = Redactor(target_config.secrets())
    for name, role in target_config.roles.items():  # reproduce lines say which role's key to put back
        if isinstance(role, dict) and isinstance(role.get("api_key"), str):
            where = f"roles.{name}.api_key"
            redactor.hint(role["api_key"], variable=target_config.variables.get(where), where=where)
    return redactor


@pytest.fixture(scope="session")
def client(request: pytest.FixtureRequest, run_context: RunContext, target_config: TargetConfig,
           redactor: Redactor) -> Iterator[GatewayClient]:
    gateway = GatewayClient(
        run_context.target_url,
        timeout_s=target_config.request_timeout_s,
        headers=target_config.headers,
        budget=RequestBudget(run_context.max_requests, run_context.max_rps),
        redactor=redactor,
        concurrency=run_context.gather_concurrency,
    )
    attach_observer(gateway, run_context.profile, target_config)
    request.config.stash[CLIENT] = gateway
    yield gateway
    gateway.stop_ahead()
    gateway.close()


@pytest.fixture(autouse=True)
def _track_exchanges(request: pytest.FixtureRequest) -> None:
    """Remember where this test's exchanges start, for evidence and request counts."""
    if _context(request.config) is None:
        return
    gateway = request.getfixturevalue("client")
    request.node.stash[EXCHANGE_MARK] = len(gateway.exchanges)


# The requirements whose tests read a key's spend before and after what they send (a spend window).
# Gathering ahead starts after the last of them, so no window waits for it; one that did would
# still be right: a spend reading waits until nothing is gathered ahead on its keys
# (`GatewayClient.quiesce`).
SPEND_WINDOWS = ("CHG-", "FUZ-3")


def reads_spend(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("requirement")
    return marker is not None and str(marker.args[0]).startswith(SPEND_WINDOWS)


def reads_rejection_pass(item: pytest.Item) -> bool:
    """A CHG test of a rejection: the rejection pass (`billing.rejection_pass`), the only window on
    the keys the rejections present (a rate-limited key among them), runs in the first of them."""
    return "rejection" in getattr(getattr(item, "callspec", None), "params", {})


# A test module's functions that gather ahead, and the tests after the last of which each starts:
# `chain_ahead` queues evidence on a key's lane (`ScenarioBook.chain_ahead`: the lanes present that
# key only, so the windows that cannot move with that key need not wait for them,
# `BillingOracle.moved_by`); `gather_ahead` starts lanes that may present any key.
AHEAD_PHASES = (("chain_ahead", reads_rejection_pass), ("gather_ahead", reads_spend))


@pytest.fixture(autouse=True)
def _gather_ahead(request: pytest.FixtureRequest) -> None:
    """Start test modules' `chain_ahead(request)` / `gather_ahead(request)` (the evidence their tests
    read, sent in the background while the tests before them run) at the setup of the first test
    after the last one whose spend window they could disturb (`AHEAD_PHASES`), when that is before
    the module's first test. Not under xdist (a worker holds every item, not the ones it runs) nor
    with --gather-concurrency 1 (one after another)."""
    context = _context(request.config)
    if context is None or context.workers > 1 or context.gather_concurrency <= 1:
        return
    plan = request.config.stash.get(AHEAD_PLAN, None)
    if plan is None:
        plan = request.config.stash[AHEAD_PLAN] = ahead_plan(request.session.items)
        _draw_fuzz_ahead(request, context)
    starts = plan.pop(request.node.nodeid, [])
    for module, phase in starts:
        try:
            getattr(module, phase)(request)
        except pytest.skip.Exception:  # a fixture it asked for skips: the module's own tests meet that again
            continue
    book = request.config.stash.get(_BOOK, None)
    if book is not None and starts:
        book.start_chains()  # the key lanes the modules queued (`ScenarioBook.chain_ahead`), in module order


# FUZ-3's test (conformance/suite/test_fuzz.py): its search is drawn ahead too.
FUZZED_REJECTIONS_TEST = "test_fuzzed_rejections_not_charged"


def _draw_fuzz_ahead(request: pytest.FixtureRequest, context: RunContext) -> None:
    """FUZ-3's and FUZ-1's OpenAPI examples drawn by a child process while the tests before them run
    (`fuzzing.draw_ahead`), at the first test's setup."""
    if context.fuzz_examples <= 0:
        return
    functions = [item for item in request.session.items if isinstance(item, pytest.Function)]
    labels = [str(item.callspec.params["openapi_operation"]) for item in functions
              if item.originalname == OPENAPI_FUZZ_TEST]
    draws = openapi_draws(context.profile, labels, examples=context.fuzz_examples, seed=context.fuzz_seed,
                          billable_allowed=context.billable_allowed)
    if any(item.originalname == FUZZED_REJECTIONS_TEST for item in functions):  # it runs first
        draws.insert(0, rejection_draw(context.profile, examples=context.fuzz_examples, seed=context.fuzz_seed))
    child = draw_ahead.start(draws)
    if child is not None:
        request.config.add_cleanup(child.stop)


def ahead_plan(items: list[pytest.Item]) -> dict[str, list[tuple[Any, str]]]:
    """nodeid → the (module, phase function) whose gathering starts at that test's setup."""
    plan: dict[str, list[tuple[Any, str]]] = {}
    for phase, disturbs in AHEAD_PHASES:
        windows = [i for i, item in enumerate(items) if disturbs(item)]
        start = windows[-1] + 1 if windows else 0
        seen: set[int] = set()
        for i, item in enumerate(items):
            module = getattr(item, "module", None)
            if not hasattr(module, phase) or id(module) in seen:
                continue
            seen.add(id(module))
            if start < i:
                plan.setdefault(items[start].nodeid, []).append((module, phase))
    return plan


# The session's scenario book, once its fixture made it (for `_gather_ahead`).
_BOOK = pytest.StashKey[ScenarioBook]()


@pytest.fixture(scope="session")
def book(request: pytest.FixtureRequest, client: GatewayClient, profile: Profile, target_config: TargetConfig,
         run_context: RunContext) -> ScenarioBook:
    book = request.config.stash[_BOOK] = ScenarioBook(client, profile, target_config,
                                                      allow_billable=run_context.billable_allowed)
    if run_context.workers <= 1:  # an xdist worker holds every collected item, not the ones it will run
        book.prefetch(gathered_scenarios(request.session.items, book))
    return book


def gathered_scenarios(items: list[pytest.Item], book: ScenarioBook) -> list[str]:
    """The scenarios the tests that will run name in their parameters (a scenario, or the code a
    scenario provokes), to send side by side before the first of them reads one. Rejections a
    CHG test judges are left to the CHG pass (`billing.rejection_pass.rejection_pass`), which sends them
    side by side between its spend readings."""
    codes = {code.code: name_for(code) for code in book.profile.codes}
    wanted: list[str] = []
    charged: set[str] = set()
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        for key, value in params.items():
            if not isinstance(value, str):
                continue
            name = value if value in book.scenarios else codes.get(value)
            if name is None or name not in book.scenarios:
                continue
            (charged.add if key == "rejection" else wanted.append)(name)
    return [name for name in dict.fromkeys(wanted) if name not in charged]


@pytest.fixture
def scenario(book: ScenarioBook) -> Callable[[str], Exchange]:
    """`scenario("no_credentials")` → its exchange (cited as evidence); skips with the reason if it cannot run."""

    def get(name: str) -> Exchange:
        try:
            exchange = book.get(name)
        except ScenarioInconclusive as exc:
            for sent in book.burst_history.get(name, [])[-2:]:
                cite(sent)
            inconclusive(str(exc))
        except ScenarioUnavailable as exc:
            pytest.skip(str(exc))
        cite(exchange)
        if exchange.status is None:
            pytest.fail(f"{exchange.describe()}: the target did not answer")
        return exchange

    return get


@pytest.fixture
def billable(run_context: RunContext) -> None:
    """Request it in a test whose requests succeed (and so cost money) on a real target."""
    if not run_context.billable_allowed:
        pytest.skip(billable_reason("this test"))


@pytest.fixture
def need_role(target_config: TargetConfig) -> Callable[[str], dict[str, Any]]:
    def get(name: str) -> dict[str, Any]:
        role = target_config.role(name)
        if role is None:
            pytest.skip(target_config.missing_role_reason(name))
        return role

    return get


@pytest.fixture
def rule_suffix(request: pytest.FixtureRequest, profile: Profile) -> str:
    """The seed sentence this test's requirement enforces, for failure messages."""
    marker = request.node.get_closest_marker("requirement")
    requirement = get_requirement(marker.args[0]) if marker else None
    if requirement is None or not requirement.listed_for(profile.id):
        return ""
    basis = requirement.basis(profile.id)
    return "" if basis.is_practice else f"\n  rule: {basis.line()}"


@pytest.fixture
def no_problems(rule_suffix: str, request: pytest.FixtureRequest) -> Callable[..., None]:
    """`no_problems(problems, why=…)`: fail with every problem on one line plus the rule this test's
    requirement marker names; pass when the list is empty. The failure carries the typed problems
    (each filed under the marker's requirement where it names none) for the report and the HAR."""
    marker = request.node.get_closest_marker("requirement")
    requirement = str(marker.args[0]) if marker else ""

    def check(problems: Sequence[Problem | str], *, why: str = "", cites: str | None = None) -> None:
        """`cites`: the sentence these problems break, where it is not the requirement's own (a
        requirement with several halves quotes the one sentence each half asks); by default the one
        every problem cites itself (RTY-3's retry decisions cite the code's catalogue row)."""
        if problems:
            typed = as_problems(problems, requirement)
            cites = cites or shared_citation(typed)
            raise ProblemsFound(typed, why + (f"\n  rule: {cites}" if cites else rule_suffix))

    return check


REALTIME = pytest.mark.scope("realtime")


def realtime_cases(profile: Profile) -> set[str]:
    """The scenario and code names whose case is a realtime handshake: they need `realtime` claimed."""
    names = {c.code for c in profile.codes if c.plane == "realtime"}
    return names | {s.name for s in build_scenarios(profile) if s.kind == "realtime"}


def scoped(values: list[Any], profile: Profile) -> list[Any]:
    """`values` as parameters, each realtime case marked `@pytest.mark.scope("realtime")`."""
    realtime = realtime_cases(profile)
    return [pytest.param(v, marks=REALTIME) if isinstance(v, str) and v in realtime else v for v in values]


def parametrize_cases(metafunc: pytest.Metafunc, name: str, values: list[Any], none_because: str) -> None:
    """Parametrize `name` by `values`; with none, one case marked `not_applicable(none_because)`:
    a profile without such a case leaves the requirement checked ("not applicable"), where an
    empty parametrisation would skip it and leave the verdict incomplete."""
    if values:
        metafunc.parametrize(name, values)
    else:
        metafunc.parametrize(name, [pytest.param(None, marks=pytest.mark.not_applicable(none_because))])


def error_scenario_names(config: pytest.Config) -> list[str]:
    return [s.name for s in build_scenarios(collection_profile(config))]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize by the profile's scenarios / codes so test ids read like the spec."""
    profile = collection_profile(metafunc.config)
    scenarios = build_scenarios(profile)
    if "error_scenario" in metafunc.fixturenames:
        metafunc.parametrize("error_scenario", scoped([s.name for s in scenarios], profile))
    if "auth_scenario" in metafunc.fixturenames:
        names = ["unknown_key", "malformed_key", "empty_bearer", "wrong_scheme"]
        metafunc.parametrize("auth_scenario", names)
    # MAP-4: paths no API defines; MAP-8 (practice): a doubled /v1, and a missing one where the
    # profile makes /v1 strict (paths.v1_prefix_strict).
    v1_cases = {"doubled_v1"} | ({"missing_v1"} if profile.v1_prefix_strict else set())
    if "path_scenario" in metafunc.fixturenames:
        metafunc.parametrize("path_scenario", [s.name for s in scenarios if s.kind == "path" and s.name not in v1_cases])
    if "v1_scenario" in metafunc.fixturenames:
        metafunc.parametrize("v1_scenario", [s.name for s in scenarios if s.kind == "path" and s.name in v1_cases])
    if "params_scenario" in metafunc.fixturenames:
        metafunc.parametrize("params_scenario", [s.name for s in scenarios if s.kind == "params"])
    if "catalogued_code" in metafunc.fixturenames:
        metafunc.parametrize("catalogued_code", scoped([c.code for c in profile.codes], profile))
    if "rate_limit_code" in metafunc.fixturenames:
        metafunc.parametrize(
            "rate_limit_code", scoped([c.code for c in profile.codes if c.status == 429], profile)
        )
    if "backoff_code" in metafunc.fixturenames:
        # HDR-2: the 429s whose rule is "back off and honor Retry-After" (rate_limit_exceeded,
        # rate_limited). The caps' 429s may omit it (RFC 6585 §4: "MAY include a Retry-After").
        codes = [c.code for c in profile.codes if c.status == 429 and c.retry == "backoff"]
        parametrize_cases(metafunc, "backoff_code", codes, "the profile catalogues no 429 whose rule is to back off")
