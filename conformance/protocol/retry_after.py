"""The one Retry-After parser: HDR-2, RTY-2, HDR-4, HDR-6, RTY-3, the realtime probe and the
reference's upstream relay all read it here.

RFC 9110 §10.2.3: `Retry-After = HTTP-date / delta-seconds`; §1.2 / RFC 5234: delta-seconds is
`1*DIGIT`, ASCII digits only (`²` or Arabic-Indic `٣` are not one), with no upper bound (a value
too large for a float is an infinite wait, never a crash). Anything else is not a Retry-After.
`retry-after-ms` is the openai SDK's own header, read the way the SDK reads it (`float()`).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

from conformance.protocol.http_date import parse_http_date
from conformance.protocol.instant import Instant

DELTA_SECONDS = re.compile(r"[0-9]+")


def parse_delta_seconds(value: str) -> float | None:
    """`1*DIGIT` (surrounding whitespace ignored) → seconds; math.inf past what a float holds."""
    value = value.strip()
    if not DELTA_SECONDS.fullmatch(value):
        return None
    try:
        return float(int(value))
    except (OverflowError, ValueError):  # > 1e308, or past int()'s digit limit: a wait no one sees end
        return math.inf


def parse_retry_after(value: str, now: datetime | None = None) -> float | None:
    """A Retry-After value → seconds to wait from `now` (0 for a date in the past), or None."""
    delta = parse_delta_seconds(value)
    if delta is not None:
        return delta
    when = parse_http_date(value, now)
    if when is None:
        return None
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def parse_retry_after_instant(value: str | None) -> Instant | None:
    """Retry-After as an `Instant`: delta-seconds (relative) or an HTTP-date (absolute)."""
    if value is None:
        return None
    delta = parse_delta_seconds(value)
    if delta is not None:
        return Instant(delta, absolute=False)
    when = parse_http_date(value)
    return None if when is None else Instant(when.timestamp(), absolute=True)


def parse_retry_after_ms(value: str) -> float | None:
    """`retry-after-ms` → seconds, as the openai SDK reads it; None unless finite and >= 0."""
    try:
        wait = float(value) / 1000
    except ValueError:
        return None
    return wait if math.isfinite(wait) and wait >= 0 else None


def wait_seconds(retry_after: str | None, retry_after_ms: str | None = None) -> float | None:
    """Seconds a response asks a client to wait: retry-after-ms first, then Retry-After; None if
    neither is there and readable."""
    if retry_after_ms is not None:
        wait = parse_retry_after_ms(retry_after_ms)
        if wait is not None:
            return wait
    return None if retry_after is None else parse_retry_after(retry_after)
