"""The rate-limit reset header's formats (`X-RateLimit-Reset` and kin): one list, one parser.

The contracts name the header, not always its format; the profile names the format
(`headers.rate_limit_reset_format`, `any` by default) from this list, HDR-3 checks a value is in
it, HDR-6 compares it with Retry-After, and the reference's `reset_*` variants write each one.
`any` accepts whichever fits: an integer from `EPOCH_FLOOR` on is a POSIX time, below it a wait.
All digits are ASCII (a `\\d` would read other scripts' digits).
"""

from __future__ import annotations

import re

from conformance.protocol.http_date import http_date_seconds
from conformance.protocol.instant import Instant, parse_rfc3339

# The formats a profile may name, each with the words a problem uses for it.
RESET_FORMAT_NAMES: dict[str, str] = {
    "delta_seconds": "delta seconds",
    "epoch_seconds": "epoch seconds",
    "rfc3339": "an RFC 3339 timestamp",
    "http_date": "an HTTP-date",
    "duration": "a duration such as 6m0s",
}
RESET_FORMATS: tuple[str, ...] = ("any", *RESET_FORMAT_NAMES)
# An integer this large is a POSIX time (2001-09-09 onwards), not a wait: how `any` tells them apart.
EPOCH_FLOOR = 1_000_000_000

_DELTA = re.compile(r"[0-9]+")
_EPOCH = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_DURATION_PART = r"([0-9]+(?:\.[0-9]+)?)(h|ms|us|µs|ns|m|s)"
_DURATION = re.compile(rf"(?:{_DURATION_PART})+")


def describe_format(fmt: str) -> str:
    """What a value in `fmt` looks like, for a problem message."""
    return " or ".join(RESET_FORMAT_NAMES.values()) if fmt == "any" else RESET_FORMAT_NAMES[fmt]


def parse_duration(value: str) -> float | None:
    """A Go-style duration (`6m0s`, `1.5h`, `250ms`) → seconds, or None."""
    if not _DURATION.fullmatch(value):
        return None
    return sum(float(n) * _DURATION_UNITS[u] for n, u in re.findall(_DURATION_PART, value))


def parse_reset(value: str | None, fmt: str = "any") -> Instant | None:
    """The reset header as an instant, in the profile's format (`any`: whichever fits), or None.
    An unknown `fmt` is a ValueError (profiles are validated against RESET_FORMATS on load)."""
    if fmt not in RESET_FORMATS:
        raise ValueError(f"unknown reset format {fmt!r}")
    if value is None:
        return None
    value = value.strip()
    if fmt == "delta_seconds":
        return Instant(float(value), absolute=False) if _DELTA.fullmatch(value) else None
    if fmt in ("any", "epoch_seconds") and _EPOCH.fullmatch(value):
        number = float(value)
        return Instant(number, absolute=fmt == "epoch_seconds" or number >= EPOCH_FLOOR)
    if fmt in ("any", "rfc3339") and (at := parse_rfc3339(value)) is not None:
        return Instant(at, absolute=True)
    if fmt in ("any", "http_date") and (at := http_date_seconds(value)) is not None:
        return Instant(at, absolute=True)
    if fmt in ("any", "duration") and (wait := parse_duration(value)) is not None:
        return Instant(wait, absolute=False)
    return None


def reset_matches(value: str, fmt: str) -> bool:
    """Whether a reset header value is in `fmt` (a key of RESET_FORMAT_NAMES, or `any`)."""
    return parse_reset(value, fmt) is not None
