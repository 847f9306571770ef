"""RTY-3: the official `openai` Python SDK, pointed at the gateway, raises the exception class the
status calls for, exposes the code as the profile's field, and retries exactly when the code's
rule says (the SDK's behaviour is what clients get, so the suite asks the SDK, not a model of it).

Pure: `scenarios.sdk` drives the SDK and hands over an `SdkEvidence`; this module only reads it.
"""

from __future__ import annotations

from conformance.checks.problem import Problem
from conformance.checks.retry import retry_after_s
from conformance.contract.profiles import Code, Profile
from conformance.transport.client import Exchange
from conformance.transport.sdk import SdkEvidence, SdkOutcome, expected_exception, exposed_code, waits_for_reset

_BEFORE_RESET = "the SDK retries before the cap resets"


def decision_rule(code: Code) -> str:
    """The profile's catalogue row for `code`: what a client must do on it."""
    return f'[{code.code}] "{code.action}"' if code.action else f"[{code.code}] retry rule {code.retry!r}"


def retry_problem(code: Code, message: str, exchange: Exchange | None, title: str) -> Problem:
    """A problem with the SDK's retry decision (not its classification): it breaks the code's own
    catalogue rule, which it cites (`decision_rule`), not the requirement's sentence on error.code."""
    return Problem("RTY-3", message, exchange, title, cites=decision_rule(code))


def _names_a_wait(exchange: Exchange) -> bool:
    """Whether the answer names a time to retry at all. A cap's 429 may name none (RFC 6585 §4:
    "MAY include a Retry-After"); then the SDK's own back-off is all a client can do, and its
    retry is no disagreement with "wait until the cap resets" that the gateway could have avoided."""
    return exchange.header("retry-after") is not None or exchange.header("retry-after-ms") is not None


def retries_before_reset(answer: Exchange, retried: bool) -> bool:
    """The `wait_reset` rule, in one place: retrying is right only after a server-directed wait (a
    Retry-After the gateway names for the reset: a daily cap hit a minute before midnight says so in
    seconds). A retry on the SDK's own back-off, where the answer names a wait that is none (zero, or
    unreadable), comes before the reset and meets the cap again."""
    if not retried or not _names_a_wait(answer):
        return False
    directed = retry_after_s(answer)
    return directed is None or directed <= 0


def _classification_problems(outcome: SdkOutcome, code: Code, profile: Profile) -> list[Problem]:
    error = outcome.error
    answer = outcome.attempts[-1] if outcome.attempts else None
    if error is None:
        return [Problem("RTY-3", f"the SDK raised nothing for {code.code} (the request succeeded)", answer,
                        "the SDK raised nothing")]
    expected = expected_exception(code.status)
    problems = []
    if type(error) is not expected:
        problems.append(Problem("RTY-3", f"the SDK raised {type(error).__name__} for {code.code}, expected "
                                f"{expected.__name__} (status {getattr(error, 'status_code', '?')})", answer,
                                "the SDK raised the wrong exception class"))
    where, value = exposed_code(error, profile)
    if value != code.code:
        problems.append(Problem("RTY-3", f"the SDK exposes {where} = {value!r}, not {code.code!r}", answer,
                                "the SDK exposes another code", where))
    return problems


def _retry_count_problems(outcome: SdkOutcome, code: Code) -> list[Problem]:
    """Did the SDK retry after each response carrying the code exactly when the rule says?"""
    attempts = outcome.attempts
    problems = []
    for attempt in attempts[:-1]:
        if attempt.status == code.status and code.retry == "never":
            problems.append(retry_problem(code, f"the SDK retried {attempt.describe()} ({len(attempts)} HTTP attempts); "
                                          f"{code.code}'s rule is \"don't retry\"", attempt,
                                          "the SDK retried a don't-retry code"))
            break
    last = attempts[-1] if attempts else None
    if code.retry in ("backoff", "wait") and last is not None and last.status == code.status \
            and len(attempts) < 3:
        problems.append(retry_problem(code, f"the SDK did not retry {last.describe()} (max_retries=2, {len(attempts)} "
                                      f"HTTP attempt(s)); {code.code}'s rule is {code.retry!r}", last,
                                      "the SDK did not retry a retry code"))
    if code.retry == "wait_reset" and attempts and retries_before_reset(attempts[0], len(attempts) > 1):
        problems.append(retry_problem(code, f"the SDK retried {attempts[0].describe()} after its own back-off, before "
                                      f"the cap resets (no Retry-After to wait for)", attempts[0], _BEFORE_RESET))
    return problems


def realtime_decision_problems(code: Code, exchange: Exchange, would_retry: bool, wait: float) -> list[Problem]:
    """The SDK's retry decision on a realtime handshake answer, against the code's rule.
    `wait_reset`: see `retries_before_reset`. `unstated`: any decision."""
    if code.retry == "unstated":
        return []
    if code.retry == "wait_reset":
        if retries_before_reset(exchange, would_retry):
            return [retry_problem(code, f"{exchange.describe()}: the SDK would retry this response after its own "
                                  f"back-off ({wait:g} s), before the cap resets (no Retry-After to wait for); "
                                  f"{code.code}'s rule is 'wait_reset'", exchange, _BEFORE_RESET)]
        return []
    if would_retry == code.retryable:
        return []
    return [retry_problem(code, f"{exchange.describe()}: the SDK {'would' if would_retry else 'would not'} retry "
                          f"this response; {code.code}'s rule is {code.retry!r}", exchange,
                          "the SDK's retry decision breaks the code's rule")]


def sdk_retry_problems(evidence: SdkEvidence, profile: Profile) -> tuple[list[Problem], str]:
    """Where the SDK disagrees with the catalogue for `evidence.code`. → (problems, why inconclusive).

    Inconclusive when the code was not met again or the SDK would wait longer than the cap.
    """
    code = evidence.code
    if evidence.handshake is not None and evidence.decision is not None:
        return realtime_decision_problems(code, evidence.handshake, *evidence.decision), ""
    if code.retry in ("never", "unstated") and evidence.counted is not None:
        return (_classification_problems(evidence.counted, code, profile)
                + _retry_count_problems(evidence.counted, code)), ""
    first = evidence.first
    if first is None:
        return [], f"the SDK was not called for {code.code}"
    answer = first.attempts[0] if first.attempts else None
    if answer is not None and answer.status is not None and answer.status < 400:
        return [], (f"{answer.describe()}: the SDK's request was served (the limit had reset), so "
                    f"{code.code} was not met again")
    problems = _classification_problems(first, code, profile)
    if answer is None or answer.status != code.status or evidence.decision is None:
        return problems, "" if problems else (f"the SDK's request did not meet {code.code} again, so its retry "
                                              "decision was not seen")
    would_retry, wait = evidence.decision
    if code.retry == "wait_reset" and waits_for_reset(answer, evidence.decision):
        return problems, ""  # it does not retry, or it waits until the reset: what the rule asks
    if evidence.counted is None:  # the SDK would wait past the cap: its retries were not counted
        if code.retry == "wait_reset":
            if retries_before_reset(answer, would_retry):
                problems.append(retry_problem(code, f"the SDK would retry {code.code} after its own back-off "
                                              f"({wait:g} s), before the cap resets (no Retry-After to wait for)",
                                              answer, _BEFORE_RESET))
            return problems, ""
        return problems, "" if problems else (f"the SDK would wait {wait:g} s before retrying, more than "
                                              f"limits.retry_after_cap_s ({evidence.cap_s:g} s)")
    return problems + _retry_count_problems(evidence.counted, code), ""
