"""The one Retry-After parser: HDR-2, RTY-2, HDR-4, RTY-3 and the realtime probe all read it here.

RFC 9110 §10.2.3: `Retry-After = HTTP-date / delta-seconds`. §5.6.7: "A recipient that parses a
timestamp value in an HTTP field MUST accept all three HTTP-date formats" — IMF-fixdate, the
obsolete RFC 850 form and asctime. delta-seconds is `1*DIGIT` (ASCII digits only: `²` is not one)
with no upper bound. Anything else is not a Retry-After, never a crash.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from conformance.transport.client import Exchange

_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_LONG_DAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH = "(" + "|".join(_MONTHS) + ")"
_TIME = r"([0-9]{2}):([0-9]{2}):([0-9]{2})"
IMF_FIXDATE = re.compile(rf"{_DAY}, ([0-9]{{2}}) {_MONTH} ([0-9]{{4}}) {_TIME} GMT")
RFC850_DATE = re.compile(rf"{_LONG_DAY}, ([0-9]{{2}})-{_MONTH}-([0-9]{{2}}) {_TIME} GMT")
ASCTIME_DATE = re.compile(rf"{_DAY} {_MONTH} ([ 0-9][0-9]) {_TIME} ([0-9]{{4}})")
DELTA_SECONDS = re.compile(r"[0-9]+")


def parse_http_date(value: str, now: datetime | None = None) -> datetime | None:
    """Any of the three HTTP-date forms → an aware UTC datetime, or None."""
    value = value.strip()
    now = now or datetime.now(timezone.utc)
    try:
        if m := IMF_FIXDATE.fullmatch(value):
            day, month, year, hh, mm, ss = m.groups()
            return datetime(int(year), _MONTHS.index(month) + 1, int(day), int(hh), int(mm), int(ss), tzinfo=timezone.utc)
        if m := RFC850_DATE.fullmatch(value):
            day, month, yy, hh, mm, ss = m.groups()
            # §5.6.7: a two-digit year more than 50 years in the future is the most recent past
            # year with the same last two digits.
            year = now.year - now.year % 100 + int(yy)
            if year > now.year + 50:
                year -= 100
            return datetime(year, _MONTHS.index(month) + 1, int(day), int(hh), int(mm), int(ss), tzinfo=timezone.utc)
        if m := ASCTIME_DATE.fullmatch(value):
            month, day, hh, mm, ss, year = m.groups()
            return datetime(int(year), _MONTHS.index(month) + 1, int(day), int(hh), int(mm), int(ss), tzinfo=timezone.utc)
    except ValueError:  # 31 Feb, 25:00:00
        return None
    try:  # lenient: other RFC 5322 dates with an explicit zone ("+0000")
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when is not None and when.tzinfo is not None else None


def parse_retry_after(value: str, now: datetime | None = None) -> float | None:
    """A Retry-After value → seconds to wait from `now` (0 for a date in the past), or None."""
    value = value.strip()
    if DELTA_SECONDS.fullmatch(value):
        return float(int(value))  # large values stay large (float, never an overflow)
    when = parse_http_date(value, now)
    if when is None:
        return None
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def retry_after_s(exchange: Exchange) -> float | None:
    """Seconds the response asks a client to wait (retry-after-ms, then Retry-After); None if absent/bad."""
    millis = exchange.header("retry-after-ms")
    if millis is not None:
        try:
            wait = float(millis) / 1000
        except ValueError:
            wait = math.nan
        if math.isfinite(wait) and wait >= 0:
            return wait
    value = exchange.header("Retry-After")
    return None if value is None else parse_retry_after(value)
