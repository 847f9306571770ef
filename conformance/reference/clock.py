"""Wall-clock arithmetic the reference gateway's limits and rejections share: when a daily cap or a
monthly key budget resets, and HTTP-dates (RFC 9110 §5.6.7) in each of their three forms.

Its own module so the limits step and the dialect step both use it without importing each other.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from conformance.protocol.http_date import DAYS, LONG_DAYS, MONTHS


def whole_seconds_from_now(seconds: int) -> datetime:
    """The instant `seconds` from now, rounded up to the next whole second."""
    return datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=seconds + 1)


def http_date(seconds: int, form: str) -> str:
    """An HTTP-date (RFC 9110 §5.6.7) `seconds` from now, rounded up to the next whole second, in
    one of its three forms: imf_fixdate, rfc850 or asctime."""
    at = whole_seconds_from_now(seconds)
    month = MONTHS[at.month - 1]
    if form == "rfc850":
        return f"{LONG_DAYS[at.weekday()]}, {at.day:02d}-{month}-{at.year % 100:02d} {at:%H:%M:%S} GMT"
    if form == "asctime":
        return f"{DAYS[at.weekday()]} {month} {at.day:2d} {at:%H:%M:%S} {at.year}"
    return f"{DAYS[at.weekday()]}, {at.day:02d} {month} {at.year} {at:%H:%M:%S} GMT"


def seconds_to_utc_midnight(now: datetime | None = None) -> int:
    now = now or datetime.now(timezone.utc)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((midnight - now).total_seconds()))


def seconds_to_month_start(now: datetime | None = None) -> int:
    """Seconds until 00:00 UTC on the first of next month (when a monthly key limit resets)."""
    now = now or datetime.now(timezone.utc)
    first = (now.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((first - now).total_seconds()))


def seconds_to_daily_reset(reset_at: datetime | None, now: datetime | None = None) -> int:
    """Seconds until the daily cap resets: at `reset_at` (and a day after each time it passes), or
    at midnight UTC when the gateway keeps no reset time of its own."""
    if reset_at is None:
        return seconds_to_utc_midnight(now)
    now = now or datetime.now(timezone.utc)
    while reset_at <= now:
        reset_at += timedelta(days=1)
    return max(1, math.ceil((reset_at - now).total_seconds()))
