"""UPS: what the gateway does when its model provider fails (the fault-injecting provider).

The target config's `provider` section names the provider the gateway routes some models to
(`gateway-conformance provider`); each request picks its fault by model name and carries a
marker, and the provider's request log tells what reached it. Without the section every test
here skips naming it (the verdict is then incomplete, never conformant).
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Callable
from typing import Any

import pytest

from conformance import checks
from conformance.billing.control import CostShown, control_so_far, cost_shown
from conformance.billing.oracle import EPSILON, BillingOracle, Reading
from conformance.checks import sse
from conformance.checks.headers import request_id_problems
from conformance.outcomes import billable_reason, cite, inconclusive, not_applicable
from conformance.protocol.retry_after import parse_retry_after
from conformance.scenarios.inference import burst_attempts
from conformance.scenarios.upstream import CHAT, FaultBook, ProviderUnavailable, ProviderView, new_marker
from conformance.servers import faults
from conformance.suite.conftest import collection_profile, parametrize_cases
from conformance.transport.sdk import call_chat

# UPS-1: a failure the provider plays → the profile's envelope with a 5xx and the request id.
FAILURES = ("500", "502", "503", "504", "500-empty", "502-empty", "503-empty", "504-empty",
            "reset", "cut", "malformed-json")
# UPS-4: the provider's 429s and the Retry-After each asks for (seconds).
RATE_LIMITS = {"429": faults.RETRY_AFTER_S, "429-date": faults.RETRY_AFTER_DATE_S,
               "429-long": faults.RETRY_AFTER_LONG_S, "429-bare": faults.RETRY_AFTER_S}
DATE_SLACK_S = 3  # an HTTP-date Retry-After loses the seconds the round trip took
# Credit: whichever credit-exhausted role the config has (no_credit, else over_key_budget).
REJECTIONS = ("unknown_key", "credit", "restricted", "rate_limited")
CREDIT_ROLES = ("no_credit", "over_key_budget", "over_plan_quota")
REJECTION_CAUSE = {  # what each UPS-5 case expects the gateway to refuse, for the skip's reason
    "unknown_key": "a key the gateway never issued",
    "credit": "a key with no credit left",
    "restricted": "the restricted role's forbidden model (MAP-3 judges a model the role was served)",
    "rate_limited": "a key driven past its rate limit",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "open_5xx" in metafunc.fixturenames:
        profile = collection_profile(metafunc.config)
        rule = next((r for r in profile.open_status_rules if r.status == "5xx"), None)
        parametrize_cases(metafunc, "open_5xx", [rule.status] if rule is not None and rule.retry == "backoff" else [],
                          "the profile has no 5xx rule saying clients retry")


# The FaultBook `gather_ahead` made and started filling in the background, for the fixtures.
_AHEAD = pytest.StashKey[FaultBook]()
# Set once the provider role's own lane started early (`chain_ahead`): `gather_ahead` then adds
# only what presents other keys.
_PROVIDER_LANE = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def provider(request, client, target_config) -> ProviderView:
    if target_config.section("provider") is None:
        pytest.skip(target_config.missing_section_reason("provider")
                    + ": route the gateway to `gateway-conformance provider` and describe it there")
    ahead = request.config.stash.get(_AHEAD, None)
    return ahead.view if ahead is not None else ProviderView(client, target_config)


@pytest.fixture(scope="session")
def fault_book(request, run_context, client, provider, target_config, profile) -> FaultBook:
    role = target_config.role(provider.role)
    if role is None:
        pytest.skip(target_config.missing_role_reason(provider.role) + " (provider.role)")
    book = request.config.stash.get(_AHEAD, None) or FaultBook(client, provider, role["api_key"])
    if run_context.workers <= 1:  # an xdist worker holds every collected item, not the ones it will run
        # What was gathered ahead is there; the lanes still running are stopped and waited for (every
        # request of them is then counted before the UPS tests' results); the rest is gathered now.
        client.quiesce()
        _prefetch(book, request.session.items, client, target_config, profile, run_context)
    return book


def _ahead_book(request: pytest.FixtureRequest) -> FaultBook | None:
    """The FaultBook gathering ahead fills (made once, kept for the fixtures); None where the config
    has no provider or no provider role (`fault_book` skips with the reason)."""
    if _AHEAD in request.config.stash:
        return request.config.stash[_AHEAD]
    client, target_config = request.getfixturevalue("client"), request.getfixturevalue("target_config")
    if target_config.section("provider") is None:
        return None
    view = ProviderView(client, target_config)
    role = target_config.role(view.role)
    if role is None:
        return None
    book = request.config.stash[_AHEAD] = FaultBook(client, view, role["api_key"])
    return book


def gather_ahead(request: pytest.FixtureRequest) -> None:
    """Start gathering what the UPS tests read in the background (called by conftest's
    `_gather_ahead` once no test that reads a key's spend is left before them): the faults, the
    streams and the lanes `fault_book` would send, each its own request with its own marker, so
    nothing the tests in between do changes them; then one read of the provider's log for every
    request answered. A stalled provider then waits beside those tests instead of in front of
    UPS-1. UPS-5's rate-limited case is `chain_ahead`'s."""
    book = _ahead_book(request)
    if book is not None:  # the provider role's own work already under way, or not
        _upstream_lane(request, book, provider_key=not request.config.stash.get(_PROVIDER_LANE, False))


def _upstream_lane(request: pytest.FixtureRequest, book: FaultBook, *, provider_key: bool = True,
                   rejections: bool = True, only: tuple[str, ...] | None = None) -> None:
    """Gather ahead on `upstream` lanes what `fault_book` would send (`_prefetch`, those parts), the
    SDK's 5xx row with the provider role's key; after the rejections, one read of the provider's
    log for every request answered. `only`: the keys its requests present (`gather_ahead`)."""
    client, target_config = request.getfixturevalue("client"), request.getfixturevalue("target_config")
    profile, run_context = request.getfixturevalue("profile"), request.getfixturevalue("run_context")
    items = list(request.session.items)

    def work(stop) -> None:
        _prefetch(book, items, client, target_config, profile, run_context, key_bursts=False, sdk=False,
                  provider_key=provider_key, rejections=rejections, stop_when=stop)
        if rejections and not stop.is_set():
            book.view.read_answered()

    client.gather_ahead("upstream", work, only=only)
    if provider_key and _sdk_5xx_selected(items):
        client.gather_ahead("upstream", lambda stop: _sdk_5xx(book), only=only)


def _sdk_5xx_selected(items: list[pytest.Item]) -> bool:
    return (any(getattr(item, "originalname", None) == "test_sdk_retries_provider_5xx" for item in items)
            and importlib.util.find_spec("openai") is not None)


def chain_ahead(request: pytest.FixtureRequest) -> None:
    """Queue UPS-5's rate-limited case on that key's lane (`ScenarioBook.chain_ahead`, after what the
    retry and streaming tests drive there; see `test_retry.chain_ahead`), and start the provider
    role's own lane where it may go on beside the windows still to come (`_provider_lane`)."""
    _provider_lane(request)
    target_config, run_context = request.getfixturevalue("target_config"), request.getfixturevalue("run_context")
    limited = target_config.role("rate_limited")
    if limited is None or not run_context.billable_allowed or not any(
            getattr(item, "originalname", None) == "test_rejected_requests_never_reach_the_provider"
            and getattr(getattr(item, "callspec", None), "params", {}).get("case") == "rate_limited"
            for item in request.session.items):
        return
    book = _ahead_book(request)
    if book is None:
        return
    request.getfixturevalue("book").chain_ahead(
        limited["api_key"], "rate_limited", ("UPS-5", "rate_limited"),
        functools.partial(_rejection, "rate_limited", book, target_config, run_context))


def _provider_lane(request: pytest.FixtureRequest) -> None:
    """Start what the UPS tests send with the provider role's key — the faults (the stalled provider's
    wait among them), their costs, the SDK's 5xx row — on a lane that presents that key only,
    right after the rejection pass, when no spend window still to come can move with it
    (`_beside_later_windows`); else `gather_ahead` starts it with the rest, after the last window."""
    book = _ahead_book(request)
    if book is None or not _beside_later_windows(request, book.api_key):
        return
    request.config.stash[_PROVIDER_LANE] = True
    _upstream_lane(request, book, rejections=False, only=(book.api_key,))


def _beside_later_windows(request: pytest.FixtureRequest, api_key: str) -> bool:
    """Whether requests with `api_key` may go on beside the spend windows after the rejection pass
    without a spend reading stopping them: CHG-5's stream cut (`valid`'s first live spend view),
    CHG-6's tasks (every live spend view of tasks.role, `valid` by default), FUZ-3 (the first live
    spend view of `fuzzing`, else `valid`). Never with one of their keys; where one of them reads a
    balance (a balance may be shared by keys), only with a key the CHG control showed apart from
    `valid`'s, and only while that balance is `valid`'s. Were this wrong, a reading would stop the
    lane (`BillingOracle.moved_by`) and its readers make what it did not: slower, never wrong."""
    from conformance.billing.tasks import DEFAULT_ROLE as TASKS_ROLE
    from conformance.fuzzing.billed_rejections import FUZZ_ROLE

    target_config, run_context = request.getfixturevalue("target_config"), request.getfixturevalue("run_context")
    control = control_so_far(request.getfixturevalue("book"), run_context.billable_allowed)
    if control is None:
        return False
    tasks_role = str((target_config.section("tasks") or {}).get("role") or TASKS_ROLE)
    fuzz_role = FUZZ_ROLE if target_config.role(FUZZ_ROLE) is not None else "valid"
    has_tasks = request.getfixturevalue("profile").has_tasks
    read = [role for role in map(target_config.role, {"valid", fuzz_role, *([tasks_role] if has_tasks else [])})
            if role is not None]
    if any(role.get("api_key") == api_key for role in read):
        return False
    views = control.spend_views()
    balances = ({tasks_role} if has_tasks and "balance" in views else set()) | (
        {"valid", fuzz_role} if views[:1] == ["balance"] else set())
    if not balances:
        return True
    own = next((role for role in target_config.roles.values()
                if isinstance(role, dict) and role.get("api_key") == api_key), None)
    return balances == {"valid"} and own is not None and own.get("key_id") in control.apart


def _prefetch(book: FaultBook, items: list[pytest.Item], client, target_config, profile, run_context, *,
              key_bursts: bool = True, sdk: bool = True, provider_key: bool = True, rejections: bool = True,
              stop_when=None) -> None:
    """`provider_key=False`: only the rejections (other keys); `rejections=False`: only what the
    provider role's key sends (see `gathered_lanes`)."""
    faults_ = gathered_faults(items) if provider_key else []
    streams = gathered_streams(items) if provider_key and run_context.billable_allowed else ()
    book.prefetch(faults_, streams,
                  lanes=gathered_lanes(items, book, BillingOracle(client, target_config), profile, target_config,
                                       run_context, key_bursts=key_bursts, sdk=sdk, provider_key=provider_key,
                                       rejections=rejections),
                  stop_when=stop_when)


# What the tests read with `fault_book.get(fault)` (non-streaming), by test name.
READS = {"test_nothing_of_the_provider_leaks": ("401", "403", "500", "503"), "test_slow_provider_is_504": ("slow",)}
# What they read with `fault_book.get(fault, stream=True)`, and the served "ok" UPS-2 reads: billable
# (each a served request), so gathered only where billable requests are allowed, as the tests send them.
BILLABLE_READS = {"test_nothing_of_the_provider_leaks": (("ok", False), ("ok", True)),
                  "test_provider_cut_stream_ends_with_error_event": (("cut", True),),
                  "test_provider_cut_stream_charged_less": (("cut", True),)}
PARAMETRIZED = ("test_provider_failure_is_5xx_envelope", "test_provider_auth_failure_is_not_the_clients",
                "test_provider_429_keeps_its_wait", "test_failed_request_not_charged")


def gathered_faults(items: list[pytest.Item]) -> list[str]:
    """The faults the UPS tests that will run read, to gather before the first of them."""
    wanted: list[str] = []
    for item in items:
        name = getattr(item, "originalname", item.name)
        if name in READS:
            wanted += READS[name]
        elif name in PARAMETRIZED and isinstance(item, pytest.Function):  # a parametrised test: it has a callspec
            wanted.append(str(item.callspec.params["fault"]))
    return wanted


def gathered_streams(items: list[pytest.Item]) -> list[tuple[str, bool]]:
    """The billable (fault, stream) reads of the UPS tests that will run (BILLABLE_READS)."""
    return [key for item in items for key in BILLABLE_READS.get(getattr(item, "originalname", item.name), ())]


@pytest.fixture
def records(provider):
    """`records(marker)` → the provider's records of it; an unreadable log is inconclusive."""

    def read(marker: str) -> list[dict[str, Any]]:
        try:
            return provider.records(marker)
        except ProviderUnavailable as exc:
            inconclusive(str(exc))
            raise  # unreachable: inconclusive raises

    return read


def played(seen: list[dict[str, Any]], fault: str) -> bool:
    """Whether the provider's records show it played `fault` (the record's fault, and for a fault that
    is a status, that status as its outcome): a gateway that rewrites the model sends a fault
    request upstream as a normal one."""
    wanted = faults.parse(faults.model_for(fault))
    for record in seen:
        if record.get("fault") != wanted.name:
            continue
        outcome = record.get("outcome")
        if wanted.kind in ("error", "error_empty", "rate_limited", "auth") and isinstance(outcome, int) \
                and outcome != wanted.status:
            continue
        return True
    return False


def _reached(records, exchange, marker: str, fault: str = "ok") -> None:
    """The request must have reached the provider and made it play `fault`, or no fault was played
    and the answer says nothing about one: inconclusive, never the gateway's failure."""
    seen = records(marker)
    if not seen:
        inconclusive(f"{exchange.describe()}: the provider never saw this request, so it played no fault (is the "
                     "model routed to the provider? see provider.models)")
    if not played(seen, fault):
        got = ", ".join(f"fault {r.get('fault')!r} model {r.get('model')!r} outcome {r.get('outcome')!r}"
                        for r in seen[:3])
        inconclusive(f"{exchange.describe()}: the provider was asked to play {fault!r} but its record shows {got}: "
                     "the gateway sent another model upstream, so no such fault happened (map the fault to a model "
                     "the gateway forwards unchanged in provider.models)")


def _cost(oracle: BillingOracle, profile, exchange, fault_book: FaultBook) -> float:
    reading = _read_cost(oracle, profile, exchange, fault_book)
    if not reading.ok:
        inconclusive(f"the billing oracle cannot tell what {exchange.describe()} cost: {reading.reason}")
    return float(reading.value or 0.0)


def _read_cost(oracle: BillingOracle, profile, exchange, fault_book: FaultBook) -> Reading:
    """The request cost of `exchange`, read once (gathered or by its test)."""
    return fault_book.once(("cost", id(exchange)),
                           lambda: oracle.request_cost(exchange.header(profile.request_id_header)))


def _price_control(fault_book: FaultBook, oracle: BillingOracle, profile) -> tuple[Any, CostShown | None]:
    """UPS-6/UPS-10's control, once per session: a served provider request and what its cost shows
    (None: it was not served). The charge is read after one settle."""
    def make() -> tuple[Any, CostShown | None]:
        control, _ = fault_book.send("ok", label="provider:ok:control")
        if control.status != 200:
            return control, None
        oracle.settle()
        return control, cost_shown(oracle, profile, control)

    return fault_book.once("priced-control", make)


@pytest.fixture
def priced(billable, client, target_config, profile, fault_book):
    """(oracle, control cost): a served provider request costs something, or nothing here can be judged
    (the CHG-0 control's question of request_cost, `billing.control.cost_shown`)."""
    oracle = BillingOracle(client, target_config)
    if not oracle.has("request_cost"):
        inconclusive("UPS billing checks need billing.request_cost (the charge of one request id)")
    control, shown = _price_control(fault_book, oracle, profile)  # one control per session (per xdist worker)
    cite(control)
    if shown is None:
        pytest.fail(f"{control.describe()}: the provider's success model was not served (status {control.status})")
    if shown.unreadable:
        inconclusive(f"the billing oracle cannot tell what {control.describe()} cost: {shown.unreadable}")
    if shown.cost is None:
        inconclusive(f"{control.describe()}: a served request shows no charge in the billing oracle, so "
                     "'charged nothing' proves nothing")
    return oracle, shown.cost


def _flaky(fault_book: FaultBook) -> tuple[Any, str]:
    """UPS-6's upstream retry: a request the provider fails once, then serves (its own marker)."""
    return fault_book.once("flaky", lambda: fault_book.send("flaky"))


def _whole_stream(fault_book: FaultBook) -> tuple[Any, str]:
    """UPS-10's comparison: the same stream from a healthy provider, its own request (not UPS-2's)."""
    return fault_book.once("whole-stream", lambda: fault_book.send("ok", stream=True, label="provider:ok:stream"))


def gathered_lanes(items: list[pytest.Item], fault_book: FaultBook, oracle: BillingOracle, profile, target_config,
                   run_context, *, key_bursts: bool = True, sdk: bool = True, provider_key: bool = True,
                   rejections: bool = True) -> list[list[Callable[[], object]]]:
    """What the selected UPS tests send and read besides the faults, as lanes to gather beside
    them (each lane in the order its test would make the calls; a lane's call that raises leaves
    the rest of its lane to the test, which meets the same raise):

    - UPS-5's rejected requests and UPS-9's bad-params one, each its own lane; the rate-limited
      case's burst is one lane, in order (nothing else drives that key while the faults are gathered);
    - where billable requests are allowed and `billing.request_cost` is configured, UPS-6 and
      UPS-10's control, their requests (the flaky one, the whole stream) and, one settle after each
      answer, the costs their tests read, each only where the test would read it.

    `key_bursts=False` leaves out the rate-limited case (gathering ahead, while other tests drive
    that key), `sdk=False` RTY-3's SDK call (gathering ahead: a lane of its own), `rejections=False`
    UPS-5's rejections (other roles' keys), `provider_key=False` everything the provider role's key
    sends (UPS-9's request, the costs' lanes)."""
    selected = {(getattr(item, "originalname", item.name), getattr(getattr(item, "callspec", None), "params", {})
                 .get("case") or getattr(getattr(item, "callspec", None), "params", {}).get("fault"))
                for item in items}
    names = {name for name, _ in selected}
    lanes: list[list[Callable[[], object]]] = []
    for case in REJECTIONS if rejections else ():
        if case == "rate_limited" and not key_bursts:
            continue
        if ("test_rejected_requests_never_reach_the_provider", case) in selected:
            lanes.append([functools.partial(_rejection, case, fault_book, target_config, run_context)])
    if provider_key and "test_bad_params_not_forwarded" in names:
        lanes.append([functools.partial(_rejection, "bad_params", fault_book, target_config, run_context)])
    if provider_key and sdk and "test_sdk_retries_provider_5xx" in names and importlib.util.find_spec("openai") is not None:
        lanes.append([functools.partial(_sdk_5xx, fault_book)])
    if not (provider_key and run_context.billable_allowed and oracle.has("request_cost")
            and any("priced" in getattr(item, "fixturenames", ()) for item in items)):
        return [[_quietly(call) for call in lane] for lane in lanes]
    lanes.insert(0, [functools.partial(_price_control, fault_book, oracle, profile)])

    def cost_after(send: Callable[[], tuple[Any, str]], wanted: Callable[[Any], bool]) -> Callable[[], object]:
        def call() -> object:
            exchange, _ = send()
            if not wanted(exchange):
                return None
            oracle.settle()
            return _read_cost(oracle, profile, exchange, fault_book)
        return call

    for fault in ("503", "reset"):
        if ("test_failed_request_not_charged", fault) in selected:
            lanes.append([cost_after(functools.partial(fault_book.fetch, fault),
                                     lambda e: e.status is not None and e.status >= 500)])
    if "test_upstream_retry_charged_once" in names:
        lanes.append([cost_after(functools.partial(_flaky, fault_book), lambda e: e.status is not None)])
    if "test_provider_cut_stream_charged_less" in names:
        lanes.append([cost_after(functools.partial(_whole_stream, fault_book), lambda e: e.status == 200),
                      cost_after(functools.partial(fault_book.fetch, "cut", stream=True),
                                 lambda e: e.status is not None and _whole_stream(fault_book)[0].status == 200)])
    return [[_quietly(call) for call in lane] for lane in lanes]


def _quietly(call: Callable[[], object]) -> Callable[[], object]:
    """A gathering call never judges: a skip, an inconclusive or a failure is left for its test."""
    def run() -> object:
        try:
            return call()
        except (pytest.skip.Exception, pytest.fail.Exception):
            return None
    return run


# --- UPS-1 -----------------------------------------------------------------------------------------

@pytest.mark.requirement("UPS-1")
@pytest.mark.parametrize("fault", FAILURES)
def test_provider_failure_is_5xx_envelope(fault, fault_book, records, profile, rule_suffix):
    """A provider failure (5xx, reset, malformed answer) reaches the client as the profile's envelope with a 5xx status and the gateway's request id."""
    exchange, marker = fault_book.get(fault)
    cite(exchange)
    _reached(records, exchange, marker, fault)
    assert exchange.status is not None, f"{exchange.describe()}: no answer ({exchange.error})" + rule_suffix
    assert 500 <= exchange.status <= 599, (
        f"{exchange.describe()}: the provider failed ({faults.CATALOGUE[fault]}), the client got "
        f"{exchange.status} instead of a 5xx" + rule_suffix)
    problems = checks.envelope_problems(exchange, profile) + request_id_problems(exchange, profile)
    assert not problems, "; ".join(map(str, problems)) + rule_suffix


# --- UPS-2 -----------------------------------------------------------------------------------------

@pytest.mark.requirement("UPS-2")
def test_nothing_of_the_provider_leaks(fault_book, provider, records, run_context, rule_suffix):
    """Nothing of the provider leaks to the client - not the gateway's provider credential, not the provider's internal address - in any error body or header.

    Every answer the provider's traffic got — errors, and the 200s (LiteLLM names the provider's
    address in a header of every success) — is read; it passes only once an error was seen played."""
    if not provider.api_key and not provider.internal_address:
        inconclusive("provider.api_key and provider.internal_address are both unknown: nothing to look for")
    errors = {fault: fault_book.get(fault) for fault in ("401", "403", "500", "503")}
    if run_context.billable_allowed:  # a served request costs money on a real target
        fault_book.get("ok")
        fault_book.get("ok", stream=True)
    exchanges = fault_book.sent()
    cite(*exchanges)
    problems = [p for exchange in exchanges for p in provider.leaks(exchange)]
    assert not problems, "; ".join(map(str, problems)) + rule_suffix
    if not any(played(records(marker), fault) for fault, (_, marker) in errors.items()):
        inconclusive(f"the provider played none of the errors asked of it ({', '.join(errors)}), so no error answer "
                     "could be read for what it reveals (see provider.models)")


# --- UPS-3 -----------------------------------------------------------------------------------------

@pytest.mark.requirement("UPS-3")
@pytest.mark.parametrize("fault", ("401", "403"))
def test_provider_auth_failure_is_not_the_clients(fault, fault_book, records, rule_suffix):
    """A provider 401/403 about the gateway's own provider key is not answered as the client's 401/403 (the client's key was fine); it is a 5xx."""
    exchange, marker = fault_book.get(fault)
    cite(exchange)
    _reached(records, exchange, marker, fault)
    assert exchange.status is not None, f"{exchange.describe()}: no answer ({exchange.error})" + rule_suffix
    assert exchange.status not in (401, 403) and 500 <= exchange.status <= 599, (
        f"{exchange.describe()}: the provider refused the gateway's own key ({fault}); the client's key was fine, "
        f"so the answer must be a 5xx, got {exchange.status}" + rule_suffix)


# --- UPS-4 -----------------------------------------------------------------------------------------

@pytest.mark.requirement("UPS-4")
@pytest.mark.parametrize("fault", tuple(RATE_LIMITS))
def test_provider_429_keeps_its_wait(fault, fault_book, records, rule_suffix):
    """A provider 429 is answered with a status clients retry (429 or 5xx) and a Retry-After no shorter than the provider's."""
    exchange, marker = fault_book.get(fault)
    cite(exchange)
    _reached(records, exchange, marker, fault)
    assert exchange.status is not None, f"{exchange.describe()}: no answer ({exchange.error})" + rule_suffix
    assert exchange.status == 429 or 500 <= exchange.status <= 599, (
        f"{exchange.describe()}: the provider answered 429; the client got {exchange.status}, a status clients "
        "do not retry" + rule_suffix)
    asked = RATE_LIMITS[fault] - (DATE_SLACK_S if fault == "429-date" else 0)
    value = exchange.header("retry-after")
    wait = parse_retry_after(value) if value is not None else None
    assert wait is not None and wait >= asked, (
        f"{exchange.describe()}: the provider asked for Retry-After {RATE_LIMITS[fault]} s; the client was told "
        f"{value!r}" + rule_suffix)


# --- UPS-5 -----------------------------------------------------------------------------------------

def _rejected(case: str, fault_book: FaultBook, target_config, run_context) -> tuple[Any, str]:
    if case == "unknown_key":
        fault_book_key = "sk-" + new_marker().replace("gwc-mark-", "") * 3
        marker = new_marker()
        return fault_book.client.request("POST", CHAT, api_key=fault_book_key, json=fault_book.view.body("ok", marker),
                                         label="provider:unknown-key"), marker
    if case == "credit":
        case = next((name for name in CREDIT_ROLES if target_config.role(name) is not None), CREDIT_ROLES[0])
    role = target_config.role(case)
    if role is None:
        pytest.skip(target_config.missing_role_reason(case) + f" (nor any of {', '.join(CREDIT_ROLES[1:])})"
                    if case == CREDIT_ROLES[0] else target_config.missing_role_reason(case))
    if case == "restricted":
        model = restricted_model(role, fault_book.view)
        marker = new_marker()
        return fault_book.client.request("POST", CHAT, api_key=role["api_key"],
                                         json=fault_book.view.body("ok", marker, model=model),
                                         label=f"provider:{case}"), marker
    if case != "rate_limited":
        marker = new_marker()
        return fault_book.client.request("POST", CHAT, api_key=role["api_key"], json=fault_book.view.body("ok", marker),
                                         label=f"provider:{case}"), marker
    if not run_context.billable_allowed:
        pytest.skip(billable_reason("driving a key into its rate limit"))
    exchange, marker = None, ""
    for _ in range(burst_attempts(role)):
        marker = new_marker()
        exchange = fault_book.client.request("POST", CHAT, api_key=role["api_key"],
                                             json=fault_book.view.body("ok", marker), label="provider:rate-limited")
        if exchange.status == 429:
            break
    return exchange, marker


def _sent_model(exchange: Any) -> str | None:
    try:
        body = json.loads(exchange.request_body or b"") if exchange is not None else None
    except ValueError:
        return None
    return body.get("model") if isinstance(body, dict) else None


def restricted_model(role: dict[str, Any], view: ProviderView) -> str:
    """The model UPS-5's restricted case sends: one the role may not use, and that the gateway would
    route to the provider, or a forwarded request could not show. `provider.models.restricted` names
    it where the role's own `forbidden_model` is routed elsewhere."""
    model = view.mapping.get("restricted") or role.get("forbidden_model")
    if not model:
        pytest.skip("UPS-5 case 'restricted': role 'restricted' has no forbidden_model in the target config, so "
                    "there is no model it is refused")
    if not view.routes(str(model)):
        inconclusive(f"UPS-5 case 'restricted': the role's forbidden_model {model!r} is not a model routed to the "
                     "provider, so the provider could not show it was forwarded: name one that is (forbidden to the "
                     "role) as provider.models.restricted")
    return str(model)


def _bad_params(fault_book: FaultBook) -> tuple[Any, str]:
    marker = new_marker()
    return fault_book.client.request("POST", CHAT, api_key=fault_book.api_key,
                                     json=fault_book.view.body("ok", marker, temperature=7),
                                     label="provider:bad-params"), marker


def _rejection(case: str, fault_book: FaultBook, target_config, run_context) -> tuple[Any, str]:
    """UPS-5's rejected request for `case` (or UPS-9's "bad_params"), sent once: gathered with the
    faults, or by its test."""
    def make() -> tuple[Any, str]:
        sent = _bad_params(fault_book) if case == "bad_params" else _rejected(case, fault_book, target_config,
                                                                              run_context)
        fault_book.view.answered(sent[1])
        return sent
    return fault_book.once(("rejection", case), make)


@pytest.mark.requirement("UPS-5")
@pytest.mark.parametrize("case", REJECTIONS)
def test_rejected_requests_never_reach_the_provider(case, fault_book, records, target_config, run_context, rule_suffix):
    """Requests the gateway rejects for auth, scope, credit or rate limit never reach the provider (its record shows none of them)."""
    exchange, marker = _rejection(case, fault_book, target_config, run_context)
    cite(exchange)
    if exchange is None or exchange.status is None or exchange.status < 400:
        model = _sent_model(exchange)  # not applicable: whether it should have been refused, MAP-3 judges
        not_applicable(f"UPS-5 case {case!r}: {exchange.describe() if exchange else 'nothing sent'} was not rejected "
                       f"(status {exchange.status if exchange else None}{f', model {model!r}' if model else ''}), so "
                       f"there is no rejection to check ({REJECTION_CAUSE[case]})")
    seen = records(marker)
    assert not seen, (
        f"{exchange.describe()}: rejected with {exchange.status}, but the provider received it {len(seen)} time(s)"
        + rule_suffix)


@pytest.mark.requirement("UPS-9")
def test_bad_params_not_forwarded(fault_book, records, target_config, run_context, rule_suffix):
    """A request the gateway rejects for bad parameters did not reach the provider first.

    A request rejected for bad parameters never reached the provider: a gateway that validates
    after forwarding spends a provider call (and its cost) on a request it then refuses."""
    exchange, marker = _rejection("bad_params", fault_book, target_config, run_context)
    cite(exchange)
    if exchange.status is None or exchange.status < 400:
        not_applicable(f"{exchange.describe()}: temperature 7 was not rejected, so there is no rejection to check")
    seen = records(marker)
    assert not seen, (f"{exchange.describe()}: rejected with {exchange.status} for bad parameters, but only after "
                      f"the provider received it {len(seen)} time(s)" + rule_suffix)


# --- UPS-6 -----------------------------------------------------------------------------------------

@pytest.mark.requirement("UPS-6")
@pytest.mark.scope("billing")  # the billing oracle prices each request
@pytest.mark.parametrize("fault", ("503", "reset"))
def test_failed_request_not_charged(fault, fault_book, priced, records, profile, rule_suffix):
    """A request that failed at the provider is charged nothing"""
    oracle, _ = priced
    exchange, marker = fault_book.get(fault)
    cite(exchange)
    _reached(records, exchange, marker, fault)
    if exchange.status is None or exchange.status < 500:
        not_applicable(f"{exchange.describe()}: not answered as a failure (UPS-1 judges that), so no failed request "
                    "to bill")
    cost = _cost(oracle, profile, exchange, fault_book)
    assert cost <= EPSILON, f"{exchange.describe()}: failed at the provider ({fault}) and charged {cost:g}" + rule_suffix


@pytest.mark.requirement("UPS-6")
@pytest.mark.scope("billing")  # the billing oracle prices each request
def test_upstream_retry_charged_once(fault_book, priced, records, profile, rule_suffix):
    """a gateway that retries upstream charges at most once"""
    oracle, control_cost = priced
    exchange, marker = _flaky(fault_book)
    cite(exchange)
    assert exchange.status is not None, f"{exchange.describe()}: no answer ({exchange.error})" + rule_suffix
    _reached(records, exchange, marker, "flaky")
    attempts = len(records(marker))
    cost = _cost(oracle, profile, exchange, fault_book)
    if exchange.status >= 400:
        assert cost <= EPSILON, (f"{exchange.describe()}: failed ({attempts} provider attempt(s)) and charged {cost:g}"
                                 + rule_suffix)
        return
    assert cost <= control_cost + EPSILON, (
        f"{exchange.describe()}: served after {attempts} provider attempt(s) and charged {cost:g}, more than the "
        f"{control_cost:g} the same request costs when the provider answers at once" + rule_suffix)


# --- UPS-7 -----------------------------------------------------------------------------------------

@pytest.mark.requirement("UPS-7")
def test_provider_cut_stream_ends_with_error_event(fault_book, billable, records, profile, rule_suffix):
    """A stream the provider cuts after the first event ends with an error event that validates against the envelope (as ENV-6), or - where the gateway buffered - a 5xx envelope; a stream that just ends or a connection the gateway drops fails.

    A stream the provider cuts after the first event ends with an error event valid against the
    envelope (or, when the gateway buffered, a 5xx envelope before the stream). Needs no billing
    oracle, but the cut stream may be billed for what it delivered: --allow-billable."""
    cut, marker = fault_book.get("cut", stream=True)
    cite(cut)
    if cut.status is None and not cut.error:
        pytest.fail(f"{cut.describe()}: the gateway did not answer the stream the provider cut" + rule_suffix)
    _reached(records, cut, marker, "cut")
    if cut.status is not None and 500 <= cut.status <= 599:
        problems = checks.envelope_problems(cut, profile)  # the gateway buffered: an error before the stream
    else:
        problems = sse.midstream_error_problems(cut, profile)
    assert not problems, "; ".join(map(str, problems)) + rule_suffix


@pytest.mark.requirement("UPS-10")
@pytest.mark.scope("billing")  # the billing oracle prices each request
def test_provider_cut_stream_charged_less(fault_book, priced, records, profile, rule_suffix):
    """A stream the provider cuts is charged less than the same stream delivered whole (needs the billing oracle as well as the provider).

    A stream the provider cuts is charged less than the same stream delivered whole."""
    oracle, _ = priced
    cut, marker = fault_book.get("cut", stream=True)
    full, _ = _whole_stream(fault_book)
    cite(cut, full)
    _reached(records, cut, marker, "cut")
    if full.status != 200:
        inconclusive(f"{full.describe()}: the same stream from a healthy provider was not served, so there is no "
                     "whole stream to compare with")
    if cut.status is None:
        inconclusive(f"{cut.describe()}: no answer to price (UPS-7 judges it)")
    oracle.settle()
    cut_cost, full_cost = _cost(oracle, profile, cut, fault_book), _cost(oracle, profile, full, fault_book)
    if full_cost <= 0:
        inconclusive(f"{full.describe()}: a whole stream shows no charge, so the cut one's cannot be compared")
    assert cut_cost < full_cost - EPSILON, (
        f"{cut.describe()}: the provider cut the stream after {faults.DEFAULT_CUT_EVENTS} events; charged "
        f"{cut_cost:g}, not less than the whole stream's {full_cost:g}" + rule_suffix)


# --- UPS-8 -----------------------------------------------------------------------------------------

@pytest.mark.requirement("UPS-8")
def test_slow_provider_is_504(fault_book, records, target_config, profile, rule_suffix):
    """A provider slower than the gateway's own timeout yields a 504 envelope within request_timeout_s, never a hang."""
    exchange, marker = fault_book.get("slow")
    cite(exchange)
    _reached(records, exchange, marker, "slow")
    assert exchange.status is not None, (
        f"{exchange.describe()}: the provider held its first byte; the gateway gave no answer within "
        f"request_timeout_s ({target_config.request_timeout_s:g} s): {exchange.error}" + rule_suffix)
    assert exchange.status == 504, (
        f"{exchange.describe()}: a provider slower than the gateway's timeout must give 504, got {exchange.status}"
        + rule_suffix)
    problems = checks.envelope_problems(exchange, profile)
    assert not problems, "; ".join(map(str, problems)) + rule_suffix


# --- RTY-3: the 5xx row ----------------------------------------------------------------------------

def _sdk_5xx(fault_book: FaultBook) -> Any:
    """RTY-3's SDK call on the provider's 503 (up to 3 attempts, the SDK's back-off between them),
    made once: gathered with the faults, or by its test."""

    return fault_book.once("sdk-5xx", lambda: call_chat(
        fault_book.client, api_key=fault_book.api_key, model=fault_book.view.model("503"), max_retries=2,
        label="sdk:provider-503"))


@pytest.mark.requirement("RTY-3")
def test_sdk_retries_provider_5xx(open_5xx, fault_book, rule_suffix):
    """its retry decision agrees with the catalogue's rule

    The contract's "5xx - retry later": the official SDK retries the gateway's 5xx (here lives the
    5xx row of RTY-3 because only the provider can make a gateway fail on purpose)."""
    pytest.importorskip("openai", reason="the official openai SDK is not installed")
    outcome = _sdk_5xx(fault_book)
    cite(*outcome.attempts)
    attempts = outcome.attempts
    if not attempts or attempts[0].status is None or not 500 <= attempts[0].status <= 599:
        not_applicable(f"the gateway did not answer the provider's 503 with a 5xx "
                    f"({attempts[0].describe() if attempts else 'no attempt'}; UPS-1 judges that)")
    assert len(attempts) == 3, (
        f"the SDK made {len(attempts)} HTTP attempt(s) for {attempts[0].describe()} with max_retries=2; the "
        f"profile's 5xx rule is \"retry later\"" + rule_suffix)
