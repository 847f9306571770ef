"""RTY-1..3 and HDR-4: each code's retry rule, as the response signals it and as the SDK acts on it."""

from __future__ import annotations

import time

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
from conformance.scenarios.inference import build_scenarios, name_for
from conformance.scenarios.scenario import ScenarioUnavailable
from conformance.suite.conftest import collection_profile, parametrize_cases, scoped


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

@pytest.mark.requirement("HDR-4")
def test_retry_after_honoured(burst_code, book, profile, target_config, run_context, need_role, rule_suffix):
    """Honouring Retry-After works: after waiting it (bounded by the config), the same key is served again."""
    code = profile.code(burst_code)
    role = need_role(code.role)
    if not run_context.billable_allowed:
        pytest.skip(billable_reason("driving a key into its rate limit"))
    refused = book.burst(role, label="hdr4:exhaust").last
    cite(refused)
    if refused is None or refused.status != 429:
        not_applicable(f"{refused.describe() if refused else 'nothing sent'}: the key was not rate limited (MAP-3 reports it)")
    wait = retry_after_s(refused)
    if wait is None:
        not_applicable(f"{refused.describe()}: no usable Retry-After to honour (HDR-2 reports it)")
    cap = target_config.limits.retry_after_cap_s
    if wait > cap:
        inconclusive(f"Retry-After asks for {wait:g} s, more than limits.retry_after_cap_s ({cap:g} s)")
    time.sleep(max(0.0, wait))
    again = book.chat(role["api_key"], label="hdr4:after-wait")
    cite(again)
    if again.status == 429 and run_context.workers > 1:
        inconclusive(f"{again.describe()}: still refused after the wait, but other xdist workers share this key")
    assert again.status is not None and again.status < 400, (
        f"{again.describe()}: after waiting the {wait:g} s Retry-After asked for, the key was still refused" + rule_suffix
    )


@pytest.fixture(scope="session")
def sdk_calls(request, client, book, profile, target_config, run_context):
    """The SDK calls that open the selected codes' RTY-3 evidence and depend on nothing before them,
    made side by side before the first of those tests (`scenarios.sdk.SdkCalls.prefetch`)."""
    from conformance.scenarios.sdk import SdkCalls

    calls = SdkCalls(client)
    if run_context.workers <= 1:  # an xdist worker holds every collected item, not the ones it will run
        codes = [profile.code(str(item.callspec.params.get("catalogued_code"))) for item in request.session.items
                 if getattr(item, "originalname", None) == "test_sdk_classifies" and hasattr(item, "callspec")]
        calls.prefetch([c for c in codes if c is not None], book, target_config, run_context.billable_allowed)
    return calls


@pytest.mark.requirement("RTY-3")
def test_sdk_classifies(catalogued_code, client, book, profile, target_config, run_context, coded_response,
                        no_problems, request):
    """The official openai Python SDK raises the exception class matching the status for each catalogued code, exposes the code as e.code, and its retry decision agrees with the catalogue's rule (a cap that names no wait may be retried on the SDK's own back-off)."""
    pytest.importorskip("openai", reason="the official openai SDK is not installed")
    from conformance.checks.sdk_retry import sdk_retry_problems
    from conformance.scenarios.sdk import drive_sdk, realtime_sdk_evidence

    code = profile.code(catalogued_code)
    try:
        if code.plane != "inference":  # the SDK's HTTP client cannot open a WebSocket: judge its decision
            evidence = realtime_sdk_evidence(code, coded_response(code), target_config)
        else:
            calls = request.getfixturevalue("sdk_calls")  # after the SDK is known to be there
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
