"""RTY-1..3 and HDR-4: each code's retry rule, as the response signals it and as the SDK acts on it."""

from __future__ import annotations

import functools
import importlib.util
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from conformance import checks
from conformance.checks.rate_window import retry_after_reset_problems
from conformance.checks.retry import (
    cap_retry_problems,
    dont_retry_problems,
    dont_retry_signal_problems,
    retry_after_s,
    retry_problems,
    rule_for,
)
from conformance.contract.profiles import Code
from conformance.outcomes import billable_reason, cite, inconclusive, not_applicable
from conformance.scenarios.inference import ScenarioBook, build_scenarios, name_for
from conformance.scenarios.scenario import ScenarioUnavailable
from conformance.scenarios.sdk import SdkCalls, drive_sdk, realtime_sdk_evidence
from conformance.suite.conftest import collection_profile, parametrize_cases, scoped
from conformance.transport.client import Exchange
from conformance.transport.sdk import warm as warm_sdk


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    profile = collection_profile(metafunc.config)
    if "dont_retry_case" in metafunc.fixturenames:  # RTY-1: catalogued codes
        metafunc.parametrize("dont_retry_case", scoped([c.code for c in profile.codes if c.retry == "never"], profile))
    if "open_rejection" in metafunc.fixturenames:  # RTY-5: bad params and unknown paths (open statuses)
        cases = [s.name for s in build_scenarios(profile)
                 if s.kind in ("params", "path") and rule_for(profile, None, s.expect_status) == "never"]
        parametrize_cases(metafunc, "open_rejection", cases, "the profile gives no open status a don't-retry rule")
    if "retry_code" in metafunc.fixturenames:  # RTY-2: back off and honor Retry-After
        metafunc.parametrize("retry_code", scoped([c.code for c in profile.codes if c.retry == "backoff"], profile))
    if "cap_code" in metafunc.fixturenames:  # RTY-4: wait (for the reset); the inference plane's caps
        codes = [c.code for c in profile.codes if c.retry in ("wait", "wait_reset") and c.plane == "inference"]
        parametrize_cases(metafunc, "cap_code", codes, "the profile catalogues no inference code whose rule is to wait")
    if "reset_code" in metafunc.fixturenames:
        codes = [c.code for c in profile.codes if c.retry == "wait_reset" and c.plane == "inference"]
        parametrize_cases(metafunc, "reset_code", codes,
                          "the profile catalogues no code whose rule is to wait for a reset")
    if "burst_code" in metafunc.fixturenames:
        metafunc.parametrize("burst_code", scoped([c.code for c in profile.codes if c.trigger == "burst"], profile))


@pytest.fixture
def coded_response(scenario, book, profile):
    """The memoised response that carries `code` (skips when it cannot be produced here)."""

    def get(code: Code):
        name = name_for(code)
        if name not in book.scenarios:
            not_applicable(f"{code.code} is a {code.plane}-plane code and no scenario of this suite build produces "
                        f"its response (the {code.plane} tests judge it)")
        exchange = scenario(name)
        found, carried = checks.code_of(exchange, profile)
        if exchange.status != code.status or (found and carried != code.code and code.trigger != "no_credentials"):
            not_applicable(f"{exchange.describe()}: {code.code} was not produced (MAP-3 reports it)")
        return exchange

    return get


# --- RTY-1 / RTY-2: the signals on the response --------------------------------------------------

@pytest.mark.requirement("RTY-1")
def test_dont_retry_signals(dont_retry_case, coded_response, profile, no_problems):
    """A catalogued code whose rule is "don't retry" comes with no invitation to retry: no 408 / 409 / 429 / 5xx, no x-should-retry: true, and - where the contract says "don't retry" (headers.retry_after_means_retry) - no Retry-After.

    A catalogued code whose rule is "don't retry" carries no invitation to retry. A Retry-After
    counts as one only where the profile says so (`headers.retry_after_means_retry`): pyai's
    "don't retry" does; mindproxy never says "don't retry", so a Retry-After there (when a monthly
    limit resets) is information."""
    code = profile.code(dont_retry_case)
    exchange = coded_response(code)
    problems = dont_retry_signal_problems(exchange, retry_after_invites=profile.retry_after_means_retry)
    no_problems(problems, why=" — its rule is \"don't retry\"")


@pytest.mark.requirement("RTY-5")
def test_open_rejection_not_retried(open_rejection, scenario, no_problems):
    """A rejection for invalid parameters or an unknown path (the open statuses 400 / 404) comes with no invitation to retry.

    Practice: invalid parameters and unknown paths fail the same way every time, so their answer
    invites no retry (no 408 / 409 / 429 / 5xx, no Retry-After, no x-should-retry: true)."""
    exchange = scenario(open_rejection)
    no_problems(dont_retry_problems(exchange), why=" — the same request fails the same way again")


@pytest.mark.requirement("RTY-2")
def test_retry_signals(retry_code, coded_response, profile, no_problems):
    """A code whose rule is to back off (rate_limit_exceeded, rate_limited) comes with a status clients retry (429 / 5xx), a Retry-After that parses, and no x-should-retry: false."""
    code = profile.code(retry_code)
    exchange = coded_response(code)
    problems = retry_problems(exchange)
    no_problems(problems, why=f" — its rule is {code.retry!r}")


@pytest.mark.requirement("RTY-4")
def test_cap_retry_signals(cap_code, coded_response, profile, no_problems):
    """A cap whose rule is to wait (daily_cap_exceeded) comes with a status clients retry and no x-should-retry: false; Retry-After is optional (RFC 6585 §4) but, when present, parses and points no earlier than the cap's reset where the role's resets_at says when.

    A cap (rule: wait, or wait until it resets) comes with a status clients retry and no
    x-should-retry: false. Retry-After is optional on it (RFC 6585 §4: "MAY include"); one that is
    there must be delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    code = profile.code(cap_code)
    exchange = coded_response(code)
    problems = cap_retry_problems(exchange)
    no_problems(problems, why=f" — its rule is {code.retry!r}")


# --- HDR-4: waiting Retry-After works ------------------------------------------------------------

@dataclass
class Honoured:
    """HDR-4's evidence: the burst's last answer, the Retry-After it asked for, and the request sent
    after waiting it (None where it was not waited: no 429, no usable Retry-After, or one past
    limits.retry_after_cap_s)."""

    refused: Exchange
    wait: float | None = None
    again: Exchange | None = None


def honour_retry_after(book: ScenarioBook, role: dict[str, Any], cap_s: float) -> Honoured:
    """Drive the key into its limit, wait the Retry-After it asked for (bounded by the cap), ask again."""
    refused = book.burst(role, label="hdr4:exhaust").last
    if refused.status != 429:
        return Honoured(refused)
    wait = retry_after_s(refused)
    if wait is None or wait > cap_s:
        return Honoured(refused, wait)
    time.sleep(max(0.0, wait))
    return Honoured(refused, wait, book.chat(role["api_key"], label="hdr4:after-wait"))


def _honoured(book: ScenarioBook, code: Code, role: dict[str, Any], cap_s: float) -> Honoured:
    """HDR-4's evidence for `code`, made once: gathered ahead (`gather_ahead`) or by its test."""
    return book.once(("HDR-4", code.code), lambda: honour_retry_after(book, role, cap_s))


@pytest.mark.requirement("HDR-4")
def test_retry_after_honoured(burst_code, book, profile, target_config, run_context, need_role, rule_suffix):
    """Honouring Retry-After works: after waiting it (bounded by the config), the same key is served again."""
    code = profile.code(burst_code)
    role = need_role(code.role)
    if not run_context.billable_allowed:
        pytest.skip(billable_reason("driving a key into its rate limit"))
    cap = target_config.limits.retry_after_cap_s
    evidence = _honoured(book, code, role, cap)  # gathered ahead, or made here
    refused = evidence.refused
    cite(refused)
    if refused.status != 429:
        not_applicable(f"{refused.describe()}: the key was not rate limited (MAP-3 reports it)")
    wait = evidence.wait
    if wait is None:
        not_applicable(f"{refused.describe()}: no usable Retry-After to honour (HDR-2 reports it)")
    if wait > cap:
        inconclusive(f"Retry-After asks for {wait:g} s, more than limits.retry_after_cap_s ({cap:g} s)")
    again = evidence.again
    assert again is not None
    cite(again)
    if again.status == 429 and run_context.workers > 1:
        inconclusive(f"{again.describe()}: still refused after the wait, but other xdist workers share this key")
    assert again.status is not None and again.status < 400, (
        f"{again.describe()}: after waiting the {wait:g} s Retry-After asked for, the key was still refused" + rule_suffix
    )


# Where `gather_ahead` keeps the SDK calls it started, for the `sdk_calls` fixture.
_AHEAD_SDK: pytest.StashKey[SdkCalls] = pytest.StashKey()


@pytest.fixture(scope="session")
def sdk_calls(request, client, book, profile, target_config, run_context):
    """The SDK calls that open the selected codes' RTY-3 evidence and depend on nothing before them,
    made side by side before the first of those tests (`scenarios.sdk.SdkCalls.prefetch`), or
    gathered ahead (`gather_ahead`: what is being made is waited for, never made twice)."""

    calls = request.config.stash.get(_AHEAD_SDK, None) or SdkCalls(client)
    if run_context.workers <= 1:  # an xdist worker holds every collected item, not the ones it will run
        calls.prefetch(_sdk_codes(request.session.items, profile), book, target_config, run_context.billable_allowed)
    return calls


def _sdk_codes(items: list[pytest.Item], profile) -> list[Code]:
    """The codes of the selected RTY-3 SDK tests, in order."""
    codes = [profile.code(str(item.callspec.params.get("catalogued_code"))) for item in items
             if getattr(item, "originalname", None) == "test_sdk_classifies" and hasattr(item, "callspec")]
    return [c for c in codes if c is not None]


def _sdk_burst(code: Code, client, book: ScenarioBook, target_config, billable_allowed: bool, calls) -> Any:
    """RTY-3's SDK evidence for a code a burst provokes, made once: gathered ahead or by its test
    (its bursts and calls stay in order on the key)."""

    return book.once(("RTY-3", code.code), lambda: drive_sdk(code, client, book, target_config, billable_allowed, calls))


def chain_ahead(request: pytest.FixtureRequest) -> None:
    """Queue what the retry tests read of the rate-limited key on that key's lane (`ScenarioBook.
    chain_ahead`, started by conftest's `_gather_ahead` once the rejection pass, the only spend
    window on that key, is behind): HDR-4's burst, wait and request after it, then RTY-3's SDK
    bursts and calls, in the order the tests would send them (ENV-6's refused stream and UPS-5's
    burst follow). The lane holds the key (nobody else presents it meanwhile); each test waits for
    its own evidence. What a run without it waits for in front of each test (the Retry-After, the
    SDK's back-off) then passes beside the tests before them."""

    client, book = request.getfixturevalue("client"), request.getfixturevalue("book")
    profile, target_config = request.getfixturevalue("profile"), request.getfixturevalue("target_config")
    billable = request.getfixturevalue("run_context").billable_allowed
    cap = target_config.limits.retry_after_cap_s
    warmed: threading.Event | None = None
    for item in request.session.items:
        name = getattr(item, "originalname", None)
        params = getattr(getattr(item, "callspec", None), "params", {})
        code = profile.code(str(params.get("burst_code") or params.get("catalogued_code")))
        if not billable or code is None or code.trigger != "burst" or code.plane != "inference" or code.role is None:
            continue
        role = target_config.role(code.role)
        if role is None:
            continue
        if name == "test_retry_after_honoured":
            book.chain_ahead(role["api_key"], code.role, ("HDR-4", code.code),
                             functools.partial(honour_retry_after, book, role, cap))
        elif name == "test_sdk_classifies" and importlib.util.find_spec("openai") is not None:
            # The SDK loaded on a lane of its own (it presents no key) while HDR-4's burst and wait go
            # on, and before the SDK's first burst: not between a burst and the SDK call that must
            # meet its refusal (the key's window may reset meanwhile).
            if warmed is None:
                warmed = client.gather_ahead("sdk-import", lambda stop: warm_sdk(), only=())
            book.chain_ahead(role["api_key"], code.role, ("RTY-3", code.code), functools.partial(
                _after, warmed, functools.partial(drive_sdk, code, client, book, target_config, billable, None)))


T = TypeVar("T")


def _after(ready: threading.Event, make: Callable[[], T]) -> T:
    ready.wait()
    return make()


def gather_ahead(request: pytest.FixtureRequest) -> None:
    """Make the SDK's opening calls of the selected codes (`sdk_calls`) in the background, importing
    the SDK on the way (called by conftest's `_gather_ahead` once no test that reads a key's spend is
    left before this module)."""

    client, book = request.getfixturevalue("client"), request.getfixturevalue("book")
    profile, target_config = request.getfixturevalue("profile"), request.getfixturevalue("target_config")
    billable = request.getfixturevalue("run_context").billable_allowed
    codes = _sdk_codes(list(request.session.items), profile)
    if codes and importlib.util.find_spec("openai") is not None:
        calls = request.config.stash[_AHEAD_SDK] = SdkCalls(client)

        def work(stop) -> None:
            warm_sdk()
            if not stop.is_set():
                calls.prefetch(codes, book, target_config, billable)

        client.gather_ahead("sdk", work)


@pytest.mark.requirement("RTY-3")
def test_sdk_classifies(catalogued_code, client, book, profile, target_config, run_context, coded_response,
                        no_problems, request):
    """The official openai Python SDK raises the exception class matching the status for each catalogued code, exposes the code as e.code, and its retry decision agrees with the catalogue's rule (a cap that names no wait may be retried on the SDK's own back-off)."""
    pytest.importorskip("openai", reason="the official openai SDK is not installed")
    from conformance.checks.sdk_retry import sdk_retry_problems

    code = profile.code(catalogued_code)
    try:
        if code.plane != "inference":  # the SDK's HTTP client cannot open a WebSocket: judge its decision
            evidence = realtime_sdk_evidence(code, coded_response(code), target_config)
        else:
            calls = request.getfixturevalue("sdk_calls")  # after the SDK is known to be there
            if code.trigger == "burst":  # gathered ahead in order on the key, or made here
                evidence = _sdk_burst(code, client, book, target_config, run_context.billable_allowed, calls)
            else:
                evidence = drive_sdk(code, client, book, target_config, run_context.billable_allowed, calls)
    except ScenarioUnavailable as exc:
        pytest.skip(str(exc))
    cite(*evidence.exchanges())  # its own calls' attempts, wherever they were made (gathered ahead or here)
    problems, why = sdk_retry_problems(evidence, profile)
    if why:
        inconclusive(why)
    no_problems(problems)  # a retry decision cites the code's own catalogue row, not the sentence on error.code


# --- RTY-4: a cap's Retry-After points no earlier than its reset ----------------------------------

@pytest.mark.requirement("RTY-4")
def test_retry_after_not_before_reset(reset_code, coded_response, profile, target_config, no_problems):
    """Retry-After is optional (RFC 6585 §4) but, when present, parses and points no earlier than the cap's reset where the role's resets_at says when

    A code whose rule is "wait until the cap resets" (pyai's daily_cap_exceeded), when it carries
    a Retry-After, carries one no earlier than the reset, where the role says when that is
    (`resets_at`): a client that honours an earlier one is refused again. Without a Retry-After the
    client is told no time at all, which RFC 6585 allows (not applicable: nothing to compare).
    Costs no request: it reads the memoised 429."""
    code = profile.code(reset_code)
    assert code is not None and code.role is not None
    exchange = coded_response(code)
    if exchange.header("retry-after") is None:
        not_applicable(f"{exchange.describe()}: the cap names no Retry-After (RFC 6585 §4: a 429 \"MAY include\" "
                       "one), so nothing points before the reset; its status and signals are test_cap_retry_signals'")
    role = target_config.role(code.role)
    if role is None:
        pytest.skip(target_config.missing_role_reason(code.role))
    resets_at = role.get("resets_at")
    if not resets_at:
        pytest.skip(f"role '{code.role}' has no resets_at in the target config (when its cap resets, "
                    "e.g. 00:00Z), so its Retry-After cannot be compared with the reset")
    problems, unsure = retry_after_reset_problems(exchange, str(resets_at),
                                                  f"roles.{code.role}.resets_at")
    if unsure and not problems:
        inconclusive(unsure)
    no_problems(problems)
