"""RTY-3: the official `openai` Python SDK, pointed at the gateway, raises the exception class the
status calls for, exposes the code as the profile's field, and retries exactly when the code's
rule says (the SDK's behaviour is what clients get, so the suite asks the SDK, not a model of it).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest

from conformance.checks.retry_after import retry_after_s
from conformance.contract.profiles import Code, Profile
from conformance.contract.target_config import TargetConfig
from conformance.outcomes import inconclusive
from conformance.scenarios.inference import ScenarioBook
from conformance.transport.client import Exchange, GatewayClient
from conformance.transport.sdk import SdkOutcome, call_chat, expected_exception, exposed_code, sdk_decision

# Retry-After is whole seconds and the SDK's wait is computed a moment later: a wait this much
# shorter than the Retry-After still waits for the reset.
RESET_SLACK_S = 1.0


def _sdk_request(
    code: Code, book: ScenarioBook, need_role: Callable[[str], dict[str, Any]], billable_allowed: bool,
) -> tuple[str, str, dict[str, str] | None]:
    """(api_key, model, extra headers) that make the SDK's request produce `code`."""
    model = book.model()
    if code.trigger == "no_credentials":  # the SDK always sends a key: an unknown one gets the same code
        return "sk-" + secrets.token_hex(24), model, None
    if code.role is None:  # as for the targeted scenarios: no role in the profile, no key that meets the code
        pytest.skip(f"the profile names no role that provokes {code.code}")
    role = need_role(code.role)
    if code.trigger == "forbidden_model":
        if not role.get("forbidden_model"):
            pytest.skip(f"role '{code.role}' has no forbidden_model in the target config")
        return role["api_key"], role["forbidden_model"], None
    if code.trigger == "disallowed_origin":
        if not role.get("disallowed_origin"):
            pytest.skip(f"role '{code.role}' has no disallowed_origin in the target config")
        return role["api_key"], model, {"origin": role["disallowed_origin"]}
    if code.trigger == "burst" and not billable_allowed:
        pytest.skip("driving a key into its rate limit sends billable requests: pass --allow-billable")
    return role["api_key"], model, None


def _classification_problems(outcome: SdkOutcome, code: Code, profile: Profile) -> list[str]:
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


def _retry_count_problems(outcome: SdkOutcome, code: Code) -> list[str]:
    """Did the SDK retry after each response carrying the code exactly when the rule says?"""
    attempts = outcome.attempts
    problems = []
    for _i, attempt in enumerate(attempts[:-1] if attempts else []):
        if attempt.status == code.status and code.retry == "never":
            problems.append(f"the SDK retried {attempt.describe()} ({len(attempts)} HTTP attempts); "
                            f"{code.code}'s rule is \"don't retry\"")
            break
    last = attempts[-1] if attempts else None
    if code.retry in ("backoff", "wait") and last is not None and last.status == code.status \
            and len(attempts) < 3:
        problems.append(f"the SDK did not retry {last.describe()} (max_retries=2, {len(attempts)} HTTP attempt(s)); "
                        f"{code.code}'s rule is {code.retry!r}")
    if code.retry == "wait_reset" and len(attempts) > 1 and _names_a_wait(attempts[0]):
        wait = retry_after_s(attempts[0])
        if wait is None or wait <= 0:
            problems.append(f"the SDK retried {attempts[0].describe()} after its own back-off, before the cap resets "
                            f"(no Retry-After to wait for)")
    return [RetryProblem(p) for p in problems]


def _names_a_wait(exchange: Exchange) -> bool:
    """Whether the answer names a time to retry at all. A cap's 429 may name none (RFC 6585 §4:
    "MAY include a Retry-After"); then the SDK's own back-off is all a client can do, and its
    retry is no disagreement with "wait until the cap resets" that the gateway could have avoided."""
    return exchange.header("retry-after") is not None or exchange.header("retry-after-ms") is not None


def realtime_decision_problems(code: Code, exchange: Exchange, would_retry: bool, wait: float) -> list[str]:
    """The SDK's retry decision on a realtime handshake answer, against the code's rule.

    `wait_reset`: retrying is right only after a server-directed wait (Retry-After); a retry on
    the SDK's own back-off would hit the cap again before it resets. `unstated`: any decision.
    """
    if code.retry == "unstated":
        return []
    if code.retry == "wait_reset":
        directed = retry_after_s(exchange)
        if would_retry and _names_a_wait(exchange) and (directed is None or directed <= 0):
            return [RetryProblem(f"{exchange.describe()}: the SDK would retry this response after its own back-off "
                                 f"({wait:g} s), before the cap resets (no Retry-After to wait for); {code.code}'s rule "
                                 f"is 'wait_reset'")]
        return []
    if would_retry == code.retryable:
        return []
    return [RetryProblem(f"{exchange.describe()}: the SDK {'would' if would_retry else 'would not'} retry this "
                         f"response; {code.code}'s rule is {code.retry!r}")]


class RetryProblem(str):
    """A problem with the SDK's retry decision (not its classification): it breaks the code's own
    catalogue rule, which `decision_rule` quotes, not the requirement's sentence on error.code."""


def decision_rule(code: Code) -> str:
    """The profile's catalogue row for `code`: what a client must do on it."""
    return f'[{code.code}] "{code.action}"' if code.action else f"[{code.code}] retry rule {code.retry!r}"


def sdk_retry_problems(code: Code, client: GatewayClient, book: ScenarioBook, profile: Profile,
                       target_config: TargetConfig, billable_allowed: bool,
                       need_role: Callable[[str], dict[str, Any]],
                       coded_response: Callable[[Code], Exchange]) -> list[str]:
    """Call the SDK as a client would for `code` and say where it disagrees with the catalogue.

    Realtime codes are judged by the SDK's decision on the recorded handshake answer (its HTTP
    client cannot open a WebSocket). Inconclusive when the code was not met again or the SDK would
    wait longer than `limits.retry_after_cap_s`.
    """
    if code.plane != "inference":  # the SDK's HTTP client cannot open a WebSocket: judge its decision
        exchange = coded_response(code)
        return realtime_decision_problems(code, exchange, *sdk_decision(exchange))
    api_key, model, headers = _sdk_request(code, book, need_role, billable_allowed)
    role = target_config.role(code.role) if code.role else None
    problems: list[str] = []
    if code.retry in ("never", "unstated"):  # one counted call: classification (and no retry, for never)
        outcome = call_chat(client, api_key=api_key, model=model, max_retries=2, headers=headers, label="sdk")
        problems += _classification_problems(outcome, code, profile)
        problems += _retry_count_problems(outcome, code)
        return problems
    if code.trigger == "burst" and role is not None:
        book.burst(role, label="sdk:exhaust")
    first = call_chat(client, api_key=api_key, model=model, max_retries=0, headers=headers, label="sdk")
    if first.attempts and first.attempts[0].status is not None and first.attempts[0].status < 400:
        inconclusive(f"{first.attempts[0].describe()}: the SDK's request was served (the limit had reset), so "
                     f"{code.code} was not met again")
    problems += _classification_problems(first, code, profile)
    if not first.attempts or first.attempts[0].status != code.status:
        if problems:
            return problems
        inconclusive(f"the SDK's request did not meet {code.code} again, so its retry decision was not seen")
    would_retry, wait = sdk_decision(first.attempts[0])
    if code.retry == "wait_reset":
        reset = retry_after_s(first.attempts[0])
        if not would_retry or (reset is not None and wait + RESET_SLACK_S >= reset):
            return problems  # it does not retry, or it waits until the reset: what the rule asks
    cap = target_config.limits.retry_after_cap_s
    if would_retry and wait > cap:
        if code.retry == "wait_reset":
            # A server-directed wait is the time the gateway names for the reset (a daily cap hit a
            # minute before UTC midnight says so in seconds): retrying after it is the rule. Only
            # a retry on the SDK's own back-off (no Retry-After) comes before the reset.
            directed = retry_after_s(first.attempts[0])
            if _names_a_wait(first.attempts[0]) and (directed is None or directed <= 0):
                problems.append(RetryProblem(f"the SDK would retry {code.code} after its own back-off ({wait:g} s), "
                                             f"before the cap resets (no Retry-After to wait for)"))
            return problems
        if problems:
            return problems
        inconclusive(f"the SDK would wait {wait:g} s before retrying, more than limits.retry_after_cap_s ({cap:g} s)")
    else:
        if code.trigger == "burst" and role is not None:
            book.burst(role, label="sdk:exhaust")
        counted = call_chat(client, api_key=api_key, model=model, max_retries=2, headers=headers, label="sdk")
        problems += _retry_count_problems(counted, code)
    return problems
