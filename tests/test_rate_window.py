"""HDR-3 on a 429 from the key's own window (conformance/checks/rate_window.py): pure rules on
hand-made exchanges — every reset format compares as an instant, unparseable is inconclusive."""

from __future__ import annotations

import httpx
import pytest

from conformance.checks.rate_window import (
    compare_retry_after,
    next_reset,
    own_window,
    remaining_problems,
    retry_after_before_reset_problems,
    retry_after_reset_problems,
)
from conformance.contract.profiles import load_profile
from conformance.protocol.instant import Instant
from conformance.protocol.ratelimit_reset import parse_reset
from conformance.protocol.retry_after import parse_retry_after_instant
from conformance.transport.client import Exchange

MINDPROXY = load_profile("mindproxy")
DATE = "Sun, 29 Nov 2026 23:00:00 GMT"
AT = 1795993200.0  # DATE as POSIX seconds


def exchange(status: int = 429, **headers: str) -> Exchange:
    named = {k.replace("_", "-"): v for k, v in headers.items()}
    return Exchange("POST", "http://gw.test/v1/chat/completions", {}, None, status=status,
                    headers=httpx.Headers(named))


@pytest.mark.parametrize("value, fmt, expected", [
    ("30", "any", Instant(30, False)),
    ("1.5", "any", Instant(1.5, False)),
    ("15", "delta_seconds", Instant(15, False)),
    (str(int(AT)), "any", Instant(AT, True)),
    ("30", "epoch_seconds", Instant(30, True)),
    ("2026-11-29T23:00:00Z", "any", Instant(AT, True)),
    ("2026-11-30T00:00:00+01:00", "rfc3339", Instant(AT, True)),
    (DATE, "http_date", Instant(AT, True)),
    ("6m0s", "any", Instant(360, False)),
    ("1h2m3.5s", "duration", Instant(3723.5, False)),
    ("250ms", "duration", Instant(0.25, False)),
])
def test_reset_formats_parse(value, fmt, expected):
    assert parse_reset(value, fmt) == expected


@pytest.mark.parametrize("value, fmt", [("soon", "any"), ("6m0s", "delta_seconds"), ("1.5", "delta_seconds"), ("30", "rfc3339"),
                                        ("-5", "any"), ("", "any"), (None, "any")])
def test_unparseable_reset_is_none(value, fmt):
    assert parse_reset(value, fmt) is None


def test_retry_after_forms():
    assert parse_retry_after_instant("3") == Instant(3, False)
    assert parse_retry_after_instant(DATE) == Instant(AT, True)
    assert parse_retry_after_instant("3.5") is None
    assert parse_retry_after_instant("Sunday, 29-Nov-26 23:00:00 GMT") == Instant(AT, True)  # RFC 850
    assert parse_retry_after_instant("Sun Nov 29 23:00:00 2026") == Instant(AT, True)  # asctime, GMT


class TestCompare:
    """HDR-6: Retry-After must not come before the reset; past it (jitter, a penalty) is fine."""

    def test_equal_and_rounding_pass(self):
        assert compare_retry_after(Instant(1, False), Instant(1, False), None, "r", "ra") == ([], "")
        assert compare_retry_after(Instant(1, False), Instant(0, False), None, "r", "ra") == ([], "")

    def test_penalty_past_the_reset_passes(self):
        assert compare_retry_after(Instant(1, False), Instant(30, False), None, "reset", "Retry-After") == ([], "")

    def test_retry_after_before_reset_fails(self):
        problems, unsure = compare_retry_after(Instant(3, False), Instant(1, False), None, "reset", "Retry-After")
        assert problems and "before reset" in str(problems[0]) and not unsure

    def test_absolute_pair_needs_no_date(self):
        assert compare_retry_after(Instant(AT + 30, True), Instant(AT + 60, True), None, "r", "ra") == ([], "")
        assert compare_retry_after(Instant(AT + 30, True), Instant(AT, True), None, "r", "ra")[0]

    def test_mixed_forms_anchor_at_the_date_header(self):
        assert compare_retry_after(Instant(AT + 30, True), Instant(30, False), DATE, "r", "ra") == ([], "")
        assert compare_retry_after(Instant(AT + 30, True), Instant(5, False), DATE, "r", "ra")[0]

    def test_mixed_forms_without_date_are_inconclusive(self):
        problems, unsure = compare_retry_after(Instant(AT + 30, True), Instant(5, False), None, "r", "ra")
        assert not problems and "Date header" in unsure


class TestOnExchanges:
    def test_remaining_zero_passes_nonzero_fails(self):
        assert remaining_problems(exchange(x_ratelimit_remaining="0"), MINDPROXY) == ([], "")
        problems, _ = remaining_problems(exchange(x_ratelimit_remaining="3"), MINDPROXY)
        assert problems and "X-RateLimit-Remaining is 3" in str(problems[0])

    def test_remaining_unreadable_is_inconclusive(self):
        problems, unsure = remaining_problems(exchange(x_ratelimit_remaining="many"), MINDPROXY)
        assert not problems and "not an integer" in unsure

    def test_retry_after_against_reset(self):
        assert retry_after_before_reset_problems(exchange(x_ratelimit_reset="30", retry_after="30"), MINDPROXY) == ([], "")
        assert retry_after_before_reset_problems(exchange(x_ratelimit_reset="1", retry_after="30"), MINDPROXY) == ([], "")
        assert retry_after_before_reset_problems(exchange(x_ratelimit_reset="30", retry_after="1"), MINDPROXY)[0]
        epoch = exchange(x_ratelimit_reset=str(int(AT) + 30), retry_after="30", date=DATE)
        assert retry_after_before_reset_problems(epoch, MINDPROXY) == ([], "")

    def test_no_retry_after_is_inconclusive(self):
        problems, unsure = retry_after_before_reset_problems(exchange(x_ratelimit_reset="1"), MINDPROXY)
        assert not problems and "no Retry-After" in unsure

    def test_unparseable_reset_is_inconclusive_not_failed(self):
        problems, unsure = retry_after_before_reset_problems(exchange(x_ratelimit_reset="soon", retry_after="30"),
                                                             MINDPROXY)
        assert not problems and "does not parse" in unsure


class TestOwnWindow:
    def test_served_the_limit_then_refused(self):
        burst = [exchange(200), exchange(200), exchange(429)]
        assert own_window(burst, MINDPROXY, 2) == (True, "")

    def test_limit_from_the_header(self):
        burst = [exchange(200), exchange(200), exchange(429, x_ratelimit_limit="2")]
        assert own_window(burst, MINDPROXY, None) == (True, "")

    def test_refused_early_may_be_another_limit(self):
        yes, why = own_window([exchange(200), exchange(429)], MINDPROXY, 5)
        assert not yes and "another limit" in why

    def test_the_last_served_answer_said_none_remained(self):
        burst = [exchange(200, x_ratelimit_remaining="1"), exchange(200, x_ratelimit_remaining="0"), exchange(429)]
        assert own_window(burst, MINDPROXY, 5) == (True, "")

    def test_our_own_workers_share_the_window(self):
        assert own_window([exchange(200), exchange(429)], MINDPROXY, 5, shared_by_workers=True) == (True, "")

    def test_unknown_limit(self):
        yes, why = own_window([exchange(200), exchange(429)], MINDPROXY, None)
        assert not yes and "unknown" in why


class TestCapReset:
    def test_next_daily_reset(self):
        assert next_reset("00:00Z", AT) == AT + 3600  # 23:00 → midnight UTC
        assert next_reset("23:00Z", AT) == AT + 86400  # exactly now → tomorrow's
        assert next_reset("08:00+08:00", AT) == AT + 3600  # 08:00 in UTC+8 is midnight UTC
        assert next_reset("2026-11-30T06:00:00Z", AT) == AT + 7 * 3600
        assert next_reset("25:00Z", AT) is None and next_reset("midnight", AT) is None

    def test_retry_after_to_the_reset_passes(self):
        assert retry_after_reset_problems(exchange(retry_after="3600", date=DATE), "00:00Z", "f") == ([], "")
        assert retry_after_reset_problems(exchange(retry_after="3599", date=DATE), "00:00Z", "f") == ([], "")
        later = "Mon, 30 Nov 2026 00:00:00 GMT"
        assert retry_after_reset_problems(exchange(retry_after=later, date=DATE), "00:00Z", "f") == ([], "")

    def test_retry_after_before_the_reset_fails(self):
        problems, _ = retry_after_reset_problems(exchange(retry_after="60", date=DATE), "00:00Z",
                                                 "roles.daily_capped.resets_at")
        assert problems and "before the cap resets" in str(problems[0]) and "roles.daily_capped.resets_at" in str(problems[0])

    def test_without_date_or_with_a_bad_fact_is_inconclusive(self):
        assert "no Date header" in retry_after_reset_problems(exchange(retry_after="60"), "00:00Z", "f")[1]
        assert "time of day" in retry_after_reset_problems(exchange(retry_after="60", date=DATE), "soon", "f")[1]


@pytest.mark.parametrize("value, ok", [("00:00Z", True), ("09:30:00+08:00", True), ("2026-11-30T00:00:00Z", True),
                                       ("midnight", False), ("00:00", False)])
def test_resets_at_in_the_target_config(value, ok):
    from conformance.contract.target_config import parse_config
    from conformance.errors import ConfigError

    data = {"roles": {"daily_capped": {"api_key": "k", "resets_at": value}}}
    if ok:
        parse_config(data, "inline")
    else:
        with pytest.raises(ConfigError, match="resets_at"):
            parse_config(data, "inline")
