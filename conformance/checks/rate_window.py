"""HDR-3 / HDR-6 on a 429 from the key's own window: the rate-limit headers agree with the refusal.

A client that reads `X-RateLimit-Remaining` (mindproxy: "Remaining calls in the current window")
must not be told "calls remain" while it is refused (HDR-3, contract). A client that honours
`Retry-After` must not be sent back before the window the reset header names reopens (HDR-6,
practice): it would only meet the same refusal. The other way round is fine: a Retry-After past
the reset (jitter, a penalty; mindproxy calls it "Suggested seconds to wait") only makes the
client wait longer. Both only hold for a 429 that comes from the key's own window: a per-IP or
upstream limit may refuse a key whose window still has room, so the caller decides that
(`own_window`) before asking these questions.

The reset header's format is the profile's choice (`headers.rate_limit_reset_format`; `any` by
default: delta seconds, epoch seconds, RFC 3339, HTTP-date or a duration like `6m0s`), read by the
one parser in `conformance.protocol.ratelimit_reset`. Values are
compared as instants: a relative value (delta, duration, delta-seconds Retry-After) is seconds
after the response, an absolute one (epoch, dates) a POSIX time; a comparison that mixes the two
is anchored at the response's `Date` header (the gateway's own clock, so no skew with ours) and
without one is inconclusive. A value that does not parse is inconclusive here: HDR-3's format
test reports it.
"""

from __future__ import annotations

import re

from conformance.checks.problem import Problem
from conformance.checks.registry import check
from conformance.contract.profiles import Profile
from conformance.protocol.http_date import http_date_seconds
from conformance.protocol.instant import Instant, parse_rfc3339
from conformance.protocol.ratelimit_reset import parse_reset
from conformance.protocol.retry_after import parse_retry_after_instant
from conformance.transport.client import Exchange

# Whole-second values rounded independently (one floor, one ceiling) may differ by one second.
ROUNDING_S = 1.0
# Placing a wait on a Date header adds that header's own whole-second truncation and the second a
# server may cache it for (uvicorn refreshes it once a second): three seconds in all.
ANCHORED_SLACK_S = 3.0


def _header_int(exchange: Exchange, name: str | None) -> int | None:
    value = exchange.header(name) if name else None
    return int(value.strip()) if value is not None and re.fullmatch(r"\s*[0-9]+\s*", value) else None


def own_window(burst: list[Exchange], profile: Profile, known_limit: int | None,
               shared_by_workers: bool = False) -> tuple[bool, str]:
    """Whether the burst's final 429 comes from the key's own window. → (yes, why not).

    Yes when the key was served at least its limit (the role's `limit`, else the 429's Limit
    header) before it, or when the last served answer itself said no call remained. Under xdist
    (`shared_by_workers`) the suite's other workers spend the same key's window at the same time,
    so a refusal before this burst reached the limit is still that window's: yes as well.
    """
    refused = burst[-1] if burst else None
    if refused is None or refused.status != 429:
        return False, "the burst ended without a 429"
    served_answers = [e for e in burst[:-1] if e.status is not None and e.status < 400]
    if served_answers and _header_int(served_answers[-1], profile.rate_limit_headers.get("remaining")) == 0:
        return True, ""
    if shared_by_workers:
        return True, ""
    limit = known_limit or _header_int(refused, profile.rate_limit_headers.get("limit"))
    if not limit:
        return False, (f"{refused.describe()}: the key's limit is unknown (no `limit` in the role, no readable "
                       f"{profile.rate_limit_headers.get('limit', 'limit header')}), so the 429 cannot be tied to its window")
    served = len(served_answers)
    if served < limit:
        return False, (f"{refused.describe()}: refused after {served} served requests of the key's limit {limit}: "
                       "this 429 may come from another limit than the key's window")
    return True, ""


def remaining_problems(exchange: Exchange, profile: Profile) -> tuple[list[Problem], str]:
    """Remaining is 0 on a 429 from the key's own window. → (problems, why inconclusive)."""
    name = profile.rate_limit_headers.get("remaining")
    if not name:
        return [], "the profile names no remaining header"
    value = exchange.header(name)
    remaining = _header_int(exchange, name)
    if remaining is None:
        return [], f"{exchange.describe()}: {name} {value!r} is not an integer (HDR-3's format test reports it)"
    if remaining != 0:
        return [Problem.at(exchange, f"{name} is {remaining} on the 429 that refused the key for its own window: "
                           "a client is told calls remain while it is refused",
                           title=f"{name} not 0 on the key's own 429", subject=name, requirement="HDR-3")], ""
    return [], ""


def retry_after_before_reset_problems(exchange: Exchange, profile: Profile) -> tuple[list[Problem], str]:
    """HDR-6: Retry-After is not before the reset on a 429 from the key's own window.
    → (problems, why inconclusive)."""
    name = profile.rate_limit_headers.get("reset")
    if not name:
        return [], "the profile names no reset header"
    fmt = profile.rate_limit_reset_format
    raw_reset, raw_retry = exchange.header(name), exchange.header("retry-after")
    reset = parse_reset(raw_reset, fmt)
    if reset is None:
        return [], f"{exchange.describe()}: {name} {raw_reset!r} does not parse as {fmt} (HDR-3's format test reports it)"
    if raw_retry is None:
        return [], f"{exchange.describe()}: no Retry-After to compare with the reset (HDR-2 reports a missing one)"
    retry = parse_retry_after_instant(raw_retry)
    if retry is None:
        return [], f"{exchange.describe()}: Retry-After {raw_retry!r} does not parse (HDR-2 reports it)"
    return compare_retry_after(reset, retry, exchange.header("date"), f"{exchange.describe()}: {name} {raw_reset!r}",
                               f"Retry-After {raw_retry!r}", exchange=exchange)


# Registered for the report's "which checks back a requirement"; never whole-run: each holds only on a
# 429 the caller has tied to the key's own window (`own_window`).
@check("HDR-3", applies=lambda exchange, profile: exchange.status == 429)
def own_window_remaining_problems(exchange: Exchange, profile: Profile) -> list[Problem]:
    return remaining_problems(exchange, profile)[0]


@check("HDR-6", applies=lambda exchange, profile: exchange.status == 429)
def own_window_retry_after_problems(exchange: Exchange, profile: Profile) -> list[Problem]:
    return retry_after_before_reset_problems(exchange, profile)[0]


def compare_retry_after(reset: Instant, retry: Instant, date: str | None, reset_what: str, retry_what: str,
                        exchange: Exchange | None = None) -> tuple[list[Problem], str]:
    """Retry-After not before the reset, within whole-second rounding. → (problems, why inconclusive)."""
    if reset.absolute != retry.absolute:
        anchor = http_date_seconds(date)
        if anchor is None:
            return [], (f"{reset_what} and {retry_what} mix an absolute time and a wait, and the response has no "
                        "Date header to place the wait in the gateway's time")
        reset = reset if reset.absolute else Instant(anchor + reset.seconds, absolute=True)
        retry = retry if retry.absolute else Instant(anchor + retry.seconds, absolute=True)
        slack = ANCHORED_SLACK_S
    else:
        slack = ROUNDING_S
    if retry.seconds < reset.seconds - slack:
        return [Problem("HDR-6", f"{retry_what} lets the client retry at {retry.describe()}, before {reset_what} says "
                        f"the window reopens ({reset.describe()}): honouring it meets the same refusal", exchange,
                        "Retry-After before the window's reset", "Retry-After")], ""
    return [], ""


# --- a cap's reset the config knows (RTY-2: "wait until the cap resets") ---------------------------

_TIME_OF_DAY = re.compile(r"([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?([Zz]|[+-][0-9]{2}:[0-9]{2})")


def next_reset(resets_at: str, after: float) -> float | None:
    """When a cap next resets after POSIX time `after`: `resets_at` is a daily time of day with its
    offset (`00:00Z`, `09:30+08:00`) or one RFC 3339 date-time. None when it is neither."""
    value = resets_at.strip()
    match = _TIME_OF_DAY.fullmatch(value)
    if match is None:
        return parse_rfc3339(value)
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    zone = match.group(4).upper()
    offset = 0 if zone == "Z" else (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    local = after + offset  # seconds on the cap's own clock face
    day_start = local - local % 86400
    at = day_start + hour * 3600 + minute * 60 + second
    if at <= local:
        at += 86400
    return at - offset


def retry_after_reset_problems(exchange: Exchange, resets_at: str, fact: str) -> tuple[list[Problem], str]:
    """Retry-After points no earlier than the cap's next reset (within whole-second rounding).
    `fact` names the config field for messages. → (problems, why inconclusive)."""
    raw = exchange.header("retry-after")
    retry = parse_retry_after_instant(raw)
    if retry is None:
        return [], f"{exchange.describe()}: Retry-After {raw!r} does not parse (HDR-2 / RTY-2 report it)"
    anchor = http_date_seconds(exchange.header("date"))
    if anchor is None:
        return [], (f"{exchange.describe()}: no Date header, so the cap's next reset ({fact} {resets_at!r}) cannot be "
                    "placed in the gateway's time")
    reset_at = next_reset(resets_at, anchor)
    if reset_at is None:
        return [], f"{fact} {resets_at!r} is neither a time of day like 00:00Z nor an RFC 3339 date-time"
    retry_at = retry.seconds if retry.absolute else anchor + retry.seconds
    if retry_at < reset_at - ANCHORED_SLACK_S:
        return [Problem.at(exchange, f"Retry-After {raw!r} lets the client retry at "
                           f"{Instant(retry_at, True).describe()}, {reset_at - retry_at:.0f}s before the cap resets "
                           f"({Instant(reset_at, True).describe()}, {fact} {resets_at!r}): the retry is refused again",
                           title="Retry-After before the cap's reset", subject="Retry-After", requirement="RTY-4")], ""
    return [], ""
