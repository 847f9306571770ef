"""The one parser per wire format (`conformance.protocol`): Retry-After, HTTP-date, the rate-limit
reset formats. Every RFC form reads; every non-ASCII digit, `²`, empty, negative and huge value is
a clean None (or an infinite wait), never a crash; the profile schema lists the same formats."""

from __future__ import annotations

import json
import math
import unicodedata
from datetime import datetime, timezone

import pytest

from conformance.contract.resources import SCHEMAS_DIR
from conformance.protocol.http_date import http_date_seconds, parse_http_date
from conformance.protocol.instant import Instant, parse_rfc3339
from conformance.protocol.ratelimit_reset import (
    EPOCH_FLOOR,
    RESET_FORMATS,
    describe_format,
    parse_duration,
    parse_reset,
    reset_matches,
)
from conformance.protocol.retry_after import (
    parse_delta_seconds,
    parse_retry_after,
    parse_retry_after_instant,
    parse_retry_after_ms,
    wait_seconds,
)

NOW = datetime(2026, 11, 29, 23, 0, 0, tzinfo=timezone.utc)
AT = datetime(2026, 11, 29, 23, 0, 7, tzinfo=timezone.utc)
# RFC 9110 §5.6.7's three forms of one instant.
HTTP_DATES = ("Sun, 29 Nov 2026 23:00:07 GMT", "Sunday, 29-Nov-26 23:00:07 GMT", "Sun Nov 29 23:00:07 2026")


def _non_ascii_digits() -> list[str]:
    """One decimal digit of every script Python's `\\d` and int() accept, and the superscripts
    `str.isdigit()` accepts: none is an RFC 5234 DIGIT."""
    digits = {chr(c) for c in range(0x80, 0x1FBFA) if unicodedata.category(chr(c)) == "Nd" and unicodedata.digit(chr(c)) == 3}
    return sorted(digits | {"²", "³", "¹"})


NON_ASCII_DIGITS = _non_ascii_digits()
BAD = ("", " ", "-1", "+3", "1.5", "1e3", "0x10", "5s", "soon", "3\x00")


class TestHttpDate:
    @pytest.mark.parametrize("value", HTTP_DATES)
    def test_each_rfc_form(self, value: str) -> None:
        assert parse_http_date(value, NOW) == AT

    def test_asctime_single_digit_day_and_lenient_zone(self) -> None:
        assert parse_http_date("Fri Nov  6 08:49:37 2026") == datetime(2026, 11, 6, 8, 49, 37, tzinfo=timezone.utc)
        assert parse_http_date("Sun, 29 Nov 2026 23:00:07 +0000") == AT  # RFC 5322 with a zone: read leniently

    def test_rfc850_two_digit_year_is_the_most_recent_past_within_50_years(self) -> None:
        assert parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", NOW) == datetime(1994, 11, 6, 8, 49, 37, tzinfo=timezone.utc)

    @pytest.mark.parametrize("value", ["Sun, 31 Feb 2026 23:00:07 GMT", "Sun, 29 Nov 2026 25:00:07 GMT",
                                       "Sun, 29 Nov 2026 23:00:07", "29 Nov 2026", "", "soon"])
    def test_not_a_date(self, value: str) -> None:
        assert parse_http_date(value) is None and http_date_seconds(value) is None

    @pytest.mark.parametrize("digit", NON_ASCII_DIGITS[:40])
    def test_non_ascii_digits_are_no_date(self, digit: str) -> None:
        assert parse_http_date(f"Sun, 29 Nov 2026 23:00:0{digit} GMT") is None
        assert parse_http_date(f"Sun, 29 Nov 2026 23:00:0{digit} +0000") is None


class TestRetryAfter:
    @pytest.mark.parametrize("value", HTTP_DATES)
    def test_http_date_forms(self, value: str) -> None:
        assert parse_retry_after(value, NOW) == 7.0
        assert parse_retry_after_instant(value) == Instant(AT.timestamp(), absolute=True)

    def test_delta_seconds(self) -> None:
        assert parse_retry_after("0") == 0.0 and parse_retry_after(" 120 ") == 120.0
        assert parse_retry_after("2147483648") == 2147483648.0
        assert parse_retry_after_instant("7") == Instant(7.0, absolute=False)

    def test_a_past_date_is_no_wait(self) -> None:
        assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", NOW) == 0.0

    @pytest.mark.parametrize("value", ["9" * 400, "9" * 5000])  # past a float; past int()'s digit limit
    def test_huge_is_an_infinite_wait_not_a_crash(self, value: str) -> None:
        assert parse_retry_after(value) == math.inf and parse_delta_seconds(value) == math.inf
        instant = parse_retry_after_instant(value)
        assert instant is not None and instant.seconds == math.inf and not instant.absolute

    @pytest.mark.parametrize("value", BAD)
    def test_not_delta_seconds(self, value: str) -> None:
        assert parse_retry_after(value) is None and parse_retry_after_instant(value) is None

    @pytest.mark.parametrize("digit", NON_ASCII_DIGITS)
    def test_every_non_ascii_digit_is_rejected(self, digit: str) -> None:
        for value in (digit, "1" + digit, digit * 3):
            assert parse_retry_after(value) is None, ascii(value)
            assert parse_retry_after_instant(value) is None, ascii(value)

    def test_retry_after_ms_first_as_the_sdk_reads_it(self) -> None:
        assert wait_seconds("9", "1500") == 1.5
        assert wait_seconds("9", "-1") == 9.0 and wait_seconds("9", "nan") == 9.0 and wait_seconds("9", "x") == 9.0
        assert wait_seconds(None, None) is None and wait_seconds("²") is None
        assert parse_retry_after_ms("inf") is None


class TestResetFormats:
    def test_every_format_parses_in_its_own_name_and_in_any(self) -> None:
        samples = {
            "delta_seconds": ("12", Instant(12.0, False)),
            "epoch_seconds": ("1795993207", Instant(1795993207.0, True)),
            "rfc3339": ("2026-11-29T23:00:07Z", Instant(AT.timestamp(), True)),
            "http_date": (HTTP_DATES[0], Instant(AT.timestamp(), True)),
            "duration": ("6m0s", Instant(360.0, False)),
        }
        assert set(samples) == set(RESET_FORMATS) - {"any"}
        for fmt, (value, instant) in samples.items():
            assert parse_reset(value, fmt) == instant, fmt
            assert parse_reset(value, "any") == instant, fmt
            assert reset_matches(value, fmt) and reset_matches(value, "any")

    def test_any_tells_a_wait_from_an_epoch_by_size(self) -> None:
        assert parse_reset(str(EPOCH_FLOOR - 1)) == Instant(float(EPOCH_FLOOR - 1), False)
        assert parse_reset(str(EPOCH_FLOOR)) == Instant(float(EPOCH_FLOOR), True)
        assert parse_reset("1.5") == Instant(1.5, False)

    def test_each_format_is_strict(self) -> None:
        assert parse_reset("1.5", "delta_seconds") is None  # delta seconds are whole (HDR-3 and HDR-6 agree)
        assert parse_reset("6m0s", "delta_seconds") is None and parse_reset("12", "rfc3339") is None
        assert parse_reset("2026-02-31T00:00:00Z", "rfc3339") is None
        assert parse_duration("1h30m") == 5400.0 and parse_duration("250ms") == 0.25 and parse_duration("6") is None

    @pytest.mark.parametrize("value", ["", " ", "-1", "+3", "1e3", "0x10", "soon", "3\x00", "m", "1.5.5"])
    def test_not_a_reset(self, value: str) -> None:
        assert parse_reset(value) is None

    @pytest.mark.parametrize("digit", NON_ASCII_DIGITS)
    def test_every_non_ascii_digit_is_rejected(self, digit: str) -> None:
        for fmt in RESET_FORMATS:
            assert parse_reset(digit * 2, fmt) is None, (fmt, ascii(digit))
        assert parse_reset(f"{digit}m0s", "duration") is None
        assert parse_rfc3339(f"2026-11-29T23:00:0{digit}Z") is None

    def test_huge_and_unknown(self) -> None:
        assert parse_reset("9" * 400, "delta_seconds") == Instant(math.inf, False)
        assert "POSIX seconds" in Instant(1e30, True).describe()
        with pytest.raises(ValueError, match="unknown reset format"):
            parse_reset("12", "fortnights")

    def test_problem_words_and_the_profile_schema_list_the_same_formats(self) -> None:
        schema = json.loads((SCHEMAS_DIR / "profile.schema.json").read_text(encoding="utf-8"))
        assert '"enum": ' + json.dumps(list(RESET_FORMATS)) in json.dumps(schema)
        assert describe_format("duration") == "a duration such as 6m0s"
        assert describe_format("any").count(" or ") == len(RESET_FORMATS) - 2
