"""RTY-1..3 and HDR-4: each code's retry rule, as the response signals it and as the SDK acts on it."""

from __future__ import annotations

import secrets
import time

import pytest

from conformance import checks
from conformance.outcomes import cite, inconclusive
from conformance.contract.profiles import Code
from conformance.checks.retry import dont_retry_problems, retry_after_s, retry_problems, rule_for
from conformance.scenarios.inference import build_scenarios
from conformance.suite.conftest import collection_profile

EXHAUST_HEADROOM = 10
EXHAUST_UNKNOWN_LIMIT = 60


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    profile = collection_profile(metafunc.config)
    if "dont_retry_case" in metafunc.fixturenames:
        cases = [c.code for c in profile.codes if c.retry == "never"]
        cases += [s.name for s in build_scenarios(profile)
                  if s.kind in ("params", "path") and rule_for(profile, None, s.expect_status) == "never"]
        metafunc.parametrize("dont_retry_case", cases)
    if "retry_code" in metafunc.fixturenames:
        metafunc.parametrize("retry_code", [c.code for c in profile.codes if c.retry != "never"])
    if "burst_code" in metafunc.fixturenames:
        metafunc.parametrize("burst_code", [c.code for c in profile.codes if c.trigger == "burst"])


def _scenario_name(code: Code) -> str:
    return "no_credentials" if code.trigger == "no_credentials" else code.code


@pytest.fixture
def coded_response(scenario, book, profile):
    """The memoised response that carries `code` (skips when it cannot be produced here)."""

    def get(code: Code):
        name = _scenario_name(code)
        if name not in book.scenarios:
            pytest.skip(f"{code.code} is a {code.plane}-plane code and no scenario of this suite build produces "
                        f"its response (the {code.plane} tests judge it)")
        exchange = scenario(name)
        found, carried = checks.code_of(exchange, profile)
        if exchange.status != code.status or (found and carried != code.code and code.trigger != "no_credentials"):
            pytest.skip(f"{exchange.describe()}: {code.code} was not produced (MAP-3 reports it)")
        return exchange

    return get


def _exhaust(book, role: dict, label: str):
    """Send until the key is refused with 429; → the 429 (or the last answer if none came)."""
    limit = role.get("limit")
    exchange = None
    for _ in range(int(limit) + EXHAUST_HEADROOM if limit else EXHAUST_UNKNOWN_LIMIT):
        exchange = book.chat(role["api_key"], label=label)
        if exchange.status == 429 or exchange.status is None:
            break
    return exchange


# --- RTY-1 / RTY-2: the signals on the response --------------------------------------------------

@pytest.mark.requirement("RTY-1")
def test_dont_retry_signals(dont_retry_case, coded_response, scenario, profile, rule):
    code = profile.code(dont_retry_case)
    exchange = coded_response(code) if code is not None else scenario(dont_retry_case)
    problems = dont_retry_problems(exchange)
    assert not problems, "; ".join(problems) + " — its rule is \"don't retry\"" + rule


@pytest.mark.requirement("RTY-2")
def test_retry_signals(retry_code, coded_response, profile, rule):
    code = profile.code(retry_code)
    exchange = coded_response(code)
    problems = retry_problems(exchange)
    assert not problems, "; ".join(problems) + f" — its rule is {code.retry!r}" + rule


# --- HDR-4: waiting Retry-After works ------------------------------------------------------------

@pytest.mark.requirement("HDR-4")
def test_retry_after_honoured(burst_code, book, profile, target_config, run, need_role, rule):
    code = profile.code(burst_code)
    role = need_role(code.role)
    if not run.billable_allowed:
        pytest.skip("driving a key into its rate limit sends billable requests: pass --allow-billable")
    refused = _exhaust(book, role, "hdr4:exhaust")
    cite(refused)
    if refused is None or refused.status != 429:
        pytest.skip(f"{refused.describe() if refused else 'nothing sent'}: the key was not rate limited (MAP-3 reports it)")
    wait = retry_after_s(refused)
    if wait is None:
        pytest.skip(f"{refused.describe()}: no usable Retry-After to honour (HDR-2 reports it)")
    cap = target_config.limits.retry_after_cap_s
    if wait > cap:
        inconclusive(f"Retry-After asks for {wait:g} s, more than limits.retry_after_cap_s ({cap:g} s)")
    time.sleep(max(0.0, wait))
    again = book.chat(role["api_key"], label="hdr4:after-wait")
    cite(again)
    if again.status == 429 and run.workers > 1:
        inconclusive(f"{again.describe()}: still refused after the wait, but other xdist workers share this key")
    assert again.status is not None and again.status < 400, (
        f"{again.describe()}: after waiting the {wait:g} s Retry-After asked for, the key was still refused" + rule
    )


# --- RTY-3: the official SDK -------------------------------------------------------------------

def _sdk_request(code: Code, book, need_role, run):
    """(api_key, model, extra headers) that make the SDK's request produce `code`."""
    model = book.model()
    if code.trigger == "no_credentials":  # the SDK always sends a key: an unknown one gets the same code
        return "sk-" + secrets.token_hex(24), model, None
    role = need_role(code.role)
    if code.trigger == "forbidden_model":
        if not role.get("forbidden_model"):
            pytest.skip(f"role '{code.role}' has no forbidden_model in the target config")
        return role["api_key"], role["forbidden_model"], None
    if code.trigger == "disallowed_origin":
        if not role.get("disallowed_origin"):
            pytest.skip(f"role '{code.role}' has no disallowed_origin in the target config")
        return role["api_key"], model, {"origin": role["disallowed_origin"]}
    if code.trigger == "burst" and not run.billable_allowed:
        pytest.skip("driving a key into its rate limit sends billable requests: pass --allow-billable")
    return role["api_key"], model, None


def _classification_problems(outcome, code: Code, profile) -> list[str]:
    from conformance.transport.sdk import expected_exception, exposed_code

    error = outcome.error
    if error is None:
        return [f"the SDK raised nothing for {code.code} (the request succeeded)"]
    expected = expected_exception(code.status)
    problems = []
    if type(error) is not expected:
        problems.append(f"the SDK raised {type(error).__name__} for {code.code}, expected {expected.__name__} "
                        f"(status {getattr(error, 'status_code', '?')})")
    where, value = exposed_code(error, profile)
    if value != code.code:
        problems.append(f"the SDK exposes {where} = {value!r}, not {code.code!r}")
    return problems


def _retry_count_problems(outcome, code: Code) -> list[str]:
    """Did the SDK retry after each response carrying the code exactly when the rule says?"""
    attempts = outcome.attempts
    problems = []
    for i, attempt in enumerate(attempts[:-1] if attempts else []):
        if attempt.status == code.status and code.retry == "never":
            problems.append(f"the SDK retried {attempt.describe()} ({len(attempts)} HTTP attempts); "
                            f"{code.code}'s rule is \"don't retry\"")
            break
    last = attempts[-1] if attempts else None
    if code.retry in ("backoff", "wait") and last is not None and last.status == code.status \
            and len(attempts) < 3:
        problems.append(f"the SDK did not retry {last.describe()} (max_retries=2, {len(attempts)} HTTP attempt(s)); "
                        f"{code.code}'s rule is {code.retry!r}")
    if code.retry == "wait_reset" and len(attempts) > 1:
        wait = retry_after_s(attempts[0])
        if wait is None or wait <= 0:
            problems.append(f"the SDK retried {attempts[0].describe()} after its own back-off, before the cap resets "
                            f"(no Retry-After to wait for)")
    return problems


@pytest.mark.requirement("RTY-3")
def test_sdk_classifies(catalogued_code, client, book, profile, target_config, run, need_role, coded_response, rule):
    pytest.importorskip("openai", reason="the official openai SDK is not installed")
    from conformance.transport.sdk import call_chat, sdk_decision

    code = profile.code(catalogued_code)
    if code.plane != "inference":  # the SDK's HTTP client cannot open a WebSocket: judge its decision
        exchange = coded_response(code)
        would_retry, _ = sdk_decision(exchange)
        assert would_retry == code.retryable or code.retry == "wait_reset", (
            f"{exchange.describe()}: the SDK {'would' if would_retry else 'would not'} retry this response; "
            f"{code.code}'s rule is {code.retry!r}" + rule)
        return
    api_key, model, headers = _sdk_request(code, book, need_role, run)
    role = target_config.role(code.role) if code.role else None
    problems: list[str] = []
    if code.retry == "never":
        outcome = call_chat(client, api_key=api_key, model=model, max_retries=2, headers=headers, label="sdk")
        problems += _classification_problems(outcome, code, profile)
        problems += _retry_count_problems(outcome, code)
        assert not problems, "; ".join(problems) + rule
        return
    if code.trigger == "burst" and role is not None:
        _exhaust(book, role, "sdk:exhaust")
    first = call_chat(client, api_key=api_key, model=model, max_retries=0, headers=headers, label="sdk")
    if first.attempts and first.attempts[0].status is not None and first.attempts[0].status < 400:
        inconclusive(f"{first.attempts[0].describe()}: the SDK's request was served (the limit had reset), so "
                     f"{code.code} was not met again")
    problems += _classification_problems(first, code, profile)
    if not first.attempts or first.attempts[0].status != code.status:
        assert not problems, "; ".join(problems) + rule
        inconclusive(f"the SDK's request did not meet {code.code} again, so its retry decision was not seen")
    would_retry, wait = sdk_decision(first.attempts[0])
    cap = target_config.limits.retry_after_cap_s
    if would_retry and wait > cap:
        if code.retry in ("backoff", "wait"):
            assert not problems, "; ".join(problems) + rule
            inconclusive(f"the SDK would wait {wait:g} s before retrying, more than limits.retry_after_cap_s ({cap:g} s)")
        problems.append(f"the SDK would retry {code.code} after {wait:g} s; its rule is to wait for the reset")
    else:
        if code.trigger == "burst" and role is not None:
            _exhaust(book, role, "sdk:exhaust")
        counted = call_chat(client, api_key=api_key, model=model, max_retries=2, headers=headers, label="sdk")
        problems += _retry_count_problems(counted, code)
    assert not problems, "; ".join(problems) + rule
