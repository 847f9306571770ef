"""Header checks (HDR-1..3): the request id, Retry-After and the rate-limit headers clients read."""

from __future__ import annotations

import re

from conformance.checks.envelope import code_of
from conformance.checks.problem import Problem
from conformance.checks.registry import check
from conformance.contract.profiles import Profile
from conformance.protocol.ratelimit_reset import describe_format, reset_matches
from conformance.protocol.retry_after import parse_retry_after
from conformance.transport.client import Exchange


@check("HDR-1", whole_run=True)
def request_id_problems(exchange: Exchange, profile: Profile) -> list[Problem]:
    """HDR-1 (presence part): the profile's request-id header, non-empty."""
    if exchange.status is None:
        return []
    value = exchange.header(profile.request_id_header)
    if value is None:
        return [Problem.at(exchange, f"no {profile.request_id_header} header", title="no request id",
                           subject=profile.request_id_header)]
    if not value.strip():
        return [Problem.at(exchange, f"{profile.request_id_header} header is empty", title="empty request id",
                           subject=profile.request_id_header)]
    return []


def duplicate_request_ids(exchanges: list[Exchange], profile: Profile) -> list[Problem]:
    """HDR-1 (uniqueness part) across a set of exchanges."""
    seen: dict[str, Exchange] = {}
    problems: list[Problem] = []
    for exchange in exchanges:
        value = exchange.header(profile.request_id_header)
        if not value:
            continue
        if value in seen:
            problems.append(Problem.at(
                exchange, f"{profile.request_id_header} {value!r} was already sent for {seen[value].describe()}",
                title="request id repeated", subject=profile.request_id_header, requirement="HDR-1",
            ))
        else:
            seen[value] = exchange
    return problems


@check("HDR-2", whole_run=True)  # every 429 but one carrying a catalogued code that is no rate limit
def retry_after_problems(exchange: Exchange, profile: Profile | None = None) -> list[Problem]:
    """HDR-2: a rate limit's 429 carries Retry-After as delta-seconds or an HTTP-date. A 429 whose
    code is catalogued with another rule (a cap: wait, wait until the reset; or a code sent with the
    wrong status, which ENV-3 blames) is not asked: the contract attaches Retry-After to the rate
    limit only and RFC 6585 §4 makes it a MAY (RTY-4 judges one a cap has)."""
    if exchange.status != 429:
        return []
    if profile is not None and _not_a_rate_limit(exchange, profile):
        return []
    value = exchange.header("retry-after")
    if value is None:
        return [Problem.at(exchange, "no Retry-After header", title="no Retry-After header", subject="Retry-After")]
    if parse_retry_after(value) is None:
        return [Problem.at(exchange, f"Retry-After {value!r} is neither delta-seconds nor an HTTP-date",
                           title="Retry-After neither delta-seconds nor an HTTP-date", subject="Retry-After")]
    return []


def _not_a_rate_limit(exchange: Exchange, profile: Profile) -> bool:
    found, code = code_of(exchange, profile)
    entry = profile.code(code) if found and isinstance(code, str) else None
    return entry is not None and entry.retry != "backoff"


@check("HDR-3", whole_run=True)
def rate_limit_header_problems(exchange: Exchange, profile: Profile) -> list[Problem]:
    """HDR-3: the profile's rate-limit headers: Limit and Remaining non-negative integers,
    Remaining <= Limit, Reset in the profile's format (headers.rate_limit_reset_format)."""
    if exchange.status != 429 or not profile.rate_limit_headers:
        return []
    problems: list[Problem] = []
    values: dict[str, int] = {}
    for role, name in profile.rate_limit_headers.items():
        value = exchange.header(name)
        fmt = profile.rate_limit_reset_format
        if value is None:
            problems.append(Problem.at(exchange, f"no {name} header", title=f"no {name} header", subject=name))
        elif role == "reset":
            if not reset_matches(value, fmt):
                problems.append(Problem.at(exchange, f"{name} {value!r} is not {describe_format(fmt)}",
                                           title=f"{name} not in the profile's format", subject=name))
        elif not re.fullmatch(r"[0-9]+", value.strip()):
            problems.append(Problem.at(exchange, f"{name} {value!r} is not a non-negative integer",
                                       title=f"{name} not a non-negative integer", subject=name))
        else:
            values[role] = int(value)
    if "limit" in values and "remaining" in values and values["remaining"] > values["limit"]:
        remaining = profile.rate_limit_headers["remaining"]
        problems.append(Problem.at(
            exchange, f"{remaining} {values['remaining']} exceeds {profile.rate_limit_headers['limit']} {values['limit']}",
            title=f"{remaining} exceeds the limit", subject=remaining,
        ))
    return problems
