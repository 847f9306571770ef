"""Points in time as response headers give them: a wait, or an absolute time.

A Retry-After or a rate-limit reset is either relative (seconds after the response: delta-seconds,
a duration) or absolute (an HTTP-date, an RFC 3339 timestamp, epoch seconds). `Instant` keeps
which, so a comparison that mixes the two can anchor the wait on the response's `Date` first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

# RFC 3339 §5.6 date-time; ASCII digits only (`\d` would read other scripts' digits).
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})")


@dataclass(frozen=True)
class Instant:
    """A point in time as a header gives it: `absolute` POSIX seconds, or seconds after the response."""

    seconds: float
    absolute: bool

    def describe(self) -> str:
        if self.absolute:
            try:
                return datetime.fromtimestamp(self.seconds, timezone.utc).isoformat(timespec="seconds")
            except (OverflowError, OSError, ValueError):  # past year 9999: say the number
                return f"{self.seconds:.0f} (POSIX seconds)"
        return f"{self.seconds:g}s after the response"


def parse_rfc3339(value: str) -> float | None:
    """An RFC 3339 date-time (`2026-12-03T10:00:00Z`, `…+08:00`) → POSIX seconds, or None."""
    value = value.strip()
    if not RFC3339.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError):  # 2026-02-31, or a year the offset pushes out of range
        return None
