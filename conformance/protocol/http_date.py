"""HTTP-date (RFC 9110 §5.6.7): the one parser, and the day and month names writers use.

"A recipient that parses a timestamp value in an HTTP field MUST accept all three HTTP-date
formats": IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850 form
(`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`). Digits are ASCII
(RFC 5234 DIGIT), so a value spelled in other scripts' digits is no date. As before this module
existed, other RFC 5322 dates with an explicit zone (`+0000`) are also read (leniently: a
recipient that understands one never fails a gateway for it).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
LONG_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_DAY = "(?:" + "|".join(DAYS) + ")"
_LONG_DAY = "(?:" + "|".join(LONG_DAYS) + ")"
_MONTH = "(" + "|".join(MONTHS) + ")"
_TIME = r"([0-9]{2}):([0-9]{2}):([0-9]{2})"
IMF_FIXDATE = re.compile(rf"{_DAY}, ([0-9]{{2}}) {_MONTH} ([0-9]{{4}}) {_TIME} GMT")
RFC850_DATE = re.compile(rf"{_LONG_DAY}, ([0-9]{{2}})-{_MONTH}-([0-9]{{2}}) {_TIME} GMT")
ASCTIME_DATE = re.compile(rf"{_DAY} {_MONTH} ([ 0-9][0-9]) {_TIME} ([0-9]{{4}})")


def _utc(year: int, month: str, day: str, hh: str, mm: str, ss: str) -> datetime:
    return datetime(year, MONTHS.index(month) + 1, int(day), int(hh), int(mm), int(ss), tzinfo=timezone.utc)


def parse_http_date(value: str, now: datetime | None = None) -> datetime | None:
    """Any of the three HTTP-date forms → an aware UTC datetime, or None. `now` places RFC 850's
    two-digit year."""
    value = value.strip()
    try:
        if m := IMF_FIXDATE.fullmatch(value):
            day, month, year, hh, mm, ss = m.groups()
            return _utc(int(year), month, day, hh, mm, ss)
        if m := RFC850_DATE.fullmatch(value):
            day, month, yy, hh, mm, ss = m.groups()
            # §5.6.7: a two-digit year more than 50 years in the future is the most recent past
            # year with the same last two digits.
            this_year = (now or datetime.now(timezone.utc)).year
            year = this_year - this_year % 100 + int(yy)
            if year > this_year + 50:
                year -= 100
            return _utc(year, month, day, hh, mm, ss)
        if m := ASCTIME_DATE.fullmatch(value):
            month, day, hh, mm, ss, year = m.groups()
            return _utc(int(year), month, day.strip(), hh, mm, ss)
    except ValueError:  # 31 Feb, 25:00:00
        return None
    if not value.isascii():  # parsedate reads other scripts' digits; no HTTP field value carries them
        return None
    try:  # lenient: other RFC 5322 dates with an explicit zone ("+0000")
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when is not None and when.tzinfo is not None else None


def http_date_seconds(value: str | None) -> float | None:
    """An HTTP-date → POSIX seconds, or None (for comparing with other instants)."""
    when = parse_http_date(value) if value else None
    return None if when is None else when.timestamp()
