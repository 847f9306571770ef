"""Header checks (HDR-1..3): the request id, Retry-After and the rate-limit headers clients read."""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime

from conformance.transport.client import Exchange
from conformance.checks.registry import check
from conformance.contract.profiles import Profile

@check("HDR-1", whole_run=True)
def request_id_problems(exchange: Exchange, profile: Profile) -> list[str]:
    """HDR-1 (presence part): the profile's request-id header, non-empty."""
    if exchange.status is None:
        return []
    value = exchange.header(profile.request_id_header)
    if value is None:
        return [f"{exchange.describe()}: no {profile.request_id_header} header"]
    if not value.strip():
        return [f"{exchange.describe()}: {profile.request_id_header} header is empty"]
    return []


def duplicate_request_ids(exchanges: list[Exchange], profile: Profile) -> list[str]:
    """HDR-1 (uniqueness part) across a set of exchanges."""
    seen: dict[str, Exchange] = {}
    problems = []
    for exchange in exchanges:
        value = exchange.header(profile.request_id_header)
        if not value:
            continue
        if value in seen:
            problems.append(
                f"{exchange.describe()}: {profile.request_id_header} {value!r} was already sent for {seen[value].describe()}"
            )
        else:
            seen[value] = exchange
    return problems


def parse_retry_after(value: str) -> float | None:
    """RFC 9110 §10.2.3: delta-seconds or an HTTP-date → seconds to wait, or None if neither."""
    value = value.strip()
    if re.fullmatch(r"\d+", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    from datetime import datetime, timezone

    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


@check("HDR-2", whole_run=True)  # every 429, whatever code it carries
def retry_after_problems(exchange: Exchange) -> list[str]:
    """HDR-2: a 429 carries Retry-After as delta-seconds or an HTTP-date."""
    if exchange.status != 429:
        return []
    value = exchange.header("retry-after")
    if value is None:
        return [f"{exchange.describe()}: no Retry-After header"]
    if parse_retry_after(value) is None:
        return [f"{exchange.describe()}: Retry-After {value!r} is neither delta-seconds nor an HTTP-date"]
    return []


@check("HDR-3", whole_run=True)
def rate_limit_header_problems(exchange: Exchange, profile: Profile) -> list[str]:
    """HDR-3: the profile's rate-limit headers, each a non-negative integer, Remaining <= Limit."""
    if exchange.status != 429 or not profile.rate_limit_headers:
        return []
    problems = []
    values: dict[str, int] = {}
    for role, name in profile.rate_limit_headers.items():
        value = exchange.header(name)
        if value is None:
            problems.append(f"{exchange.describe()}: no {name} header")
        elif not re.fullmatch(r"\d+", value.strip()):
            problems.append(f"{exchange.describe()}: {name} {value!r} is not a non-negative integer")
        else:
            values[role] = int(value)
    if "limit" in values and "remaining" in values and values["remaining"] > values["limit"]:
        problems.append(
            f"{exchange.describe()}: {profile.rate_limit_headers['remaining']} {values['remaining']} exceeds "
            f"{profile.rate_limit_headers['limit']} {values['limit']}"
        )
    return problems
