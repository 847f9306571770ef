"""Retry rules: what each catalogued code tells a client, and what the response must signal for it.

A catalogue rule is only useful if the response carries the signals clients act on. Clients
(the official SDKs first) retry 408, 409, 429 and 5xx, obey `x-should-retry`, and wait
`retry-after-ms` / `Retry-After`. So a "don't retry" code must carry none of those invitations
(RTY-1) and a back-off / wait code must carry them (RTY-2). Pure functions over an `Exchange`, so
the realtime tests can judge a WebSocket handshake's HTTP answer with the same rules.
See docs/retry-rules.md.
"""

from __future__ import annotations

from conformance.checks.problem import Problem
from conformance.checks.registry import check
from conformance.contract.profiles import Code, Profile
from conformance.protocol.retry_after import wait_seconds
from conformance.transport.client import Exchange

# Statuses the official openai SDK retries by itself (openai/_base_client.py `_should_retry`).
SDK_RETRIED_STATUSES = frozenset({408, 409, 429})
RETRY_HEADERS = ("Retry-After", "retry-after-ms")


def retry_after_s(exchange: Exchange) -> float | None:
    """Seconds the response asks a client to wait (retry-after-ms, then Retry-After); None if absent/bad."""
    return wait_seconds(exchange.header("Retry-After"), exchange.header("retry-after-ms"))


def sdk_retries_status(status: int) -> bool:
    return status in SDK_RETRIED_STATUSES or status >= 500


def rule_for(profile: Profile, code: str | None, status: int) -> str | None:
    """The retry rule of a catalogued code, else of the status (open_status_rules); None if none."""
    entry: Code | None = profile.code(code) if isinstance(code, str) else None
    if entry is not None:
        return entry.retry
    for rule in profile.open_status_rules:
        if rule.matches(status):
            return rule.retry
    return None


@check("RTY-1")
def dont_retry_problems(exchange: Exchange) -> list[Problem]:
    """RTY-1 / RTY-5: no status, header or hint that makes a client retry."""
    return dont_retry_signal_problems(exchange, retry_after_invites=True)


def dont_retry_signal_problems(exchange: Exchange, retry_after_invites: bool) -> list[Problem]:
    """No status clients retry, no x-should-retry: true and — where a Retry-After counts as an
    invitation (the contract says "don't retry": profile `headers.retry_after_means_retry`) — no
    Retry-After / retry-after-ms."""
    problems: list[Problem] = []
    status = exchange.status or 0
    if sdk_retries_status(status):
        problems.append(Problem.at(exchange, f"status {status} is one clients retry", title="a status clients retry"))
    for name in RETRY_HEADERS if retry_after_invites else ():
        if exchange.header(name) is not None:
            problems.append(Problem.at(exchange, f"carries {name}: {exchange.header(name)} (an invitation to retry)",
                                       title=f"{name} invites a retry", subject=name))
    if (exchange.header("x-should-retry") or "").strip().lower() == "true":
        problems.append(Problem.at(exchange, "carries x-should-retry: true", title="x-should-retry: true",
                                   subject="x-should-retry"))
    return problems


@check("RTY-2")
def retry_problems(exchange: Exchange) -> list[Problem]:
    """RTY-2: a status clients retry, and how long to wait."""
    return retry_signal_problems(exchange, retry_after_required=True)


@check("RTY-4")
def cap_retry_problems(exchange: Exchange) -> list[Problem]:
    """RTY-4: a status clients retry; a Retry-After is optional on a cap (RFC 6585 §4) but parses."""
    return retry_signal_problems(exchange, retry_after_required=False)


def retry_signal_problems(exchange: Exchange, retry_after_required: bool) -> list[Problem]:
    problems: list[Problem] = []
    status = exchange.status or 0
    if status != 429 and not 500 <= status <= 599:
        problems.append(Problem.at(exchange, f"status {status} is not one clients retry (429 / 5xx)",
                                   title="not a status clients retry"))
    if exchange.header("Retry-After") is None:
        if retry_after_required:
            problems.append(Problem.at(exchange, "no Retry-After header saying how long to wait",
                                       title="no Retry-After header", subject="Retry-After"))
    else:
        if retry_after_s(exchange) is None:  # a huge delta-seconds is an infinite wait, still delta-seconds
            problems.append(Problem.at(exchange, f"Retry-After {exchange.header('Retry-After')!r} is not "
                                       "delta-seconds or an HTTP-date", title="Retry-After neither delta-seconds nor an HTTP-date", subject="Retry-After"))
    if (exchange.header("x-should-retry") or "").strip().lower() == "false":
        problems.append(Problem.at(exchange, "carries x-should-retry: false, so clients will not retry",
                                   title="x-should-retry: false", subject="x-should-retry"))
    return problems
