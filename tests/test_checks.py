"""The pure checks on hand-made exchanges: each rule catches what it should and nothing else."""

from __future__ import annotations

import json

import httpx
import pytest

from conformance import checks
from conformance.contract.profiles import load_profile
from conformance.transport.client import Exchange

PYAI = load_profile("pyai")
MINDPROXY = load_profile("mindproxy")


def exchange(status: int, body: object = None, *, headers: dict[str, str] | None = None,
             content_type: str = "application/json", presented: tuple[str, ...] = ()) -> Exchange:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    hdrs = {"content-type": content_type, **(headers or {})}
    return Exchange("POST", "http://gw.test/v1/chat/completions", {}, None, status=status,
                    headers=httpx.Headers(hdrs), body=raw.encode() if isinstance(raw, str) else raw,
                    presented_credentials=presented)


def openai_error(code, status_type="invalid_request_error", message="nope", param=None):
    return {"error": {"message": message, "type": status_type, "code": code, "param": param}}


class TestEnvelope:
    def test_valid_openai_envelope(self):
        assert checks.envelope_problems(exchange(401, openai_error("unauthorized")), PYAI) == []

    def test_extra_members_are_allowed(self):
        body = openai_error("unauthorized") | {"provider": "x"}
        body["error"]["extra"] = 1
        assert checks.envelope_problems(exchange(401, body), PYAI) == []

    def test_html_is_rejected(self):
        problems = checks.envelope_problems(exchange(404, "<html>Not Found</html>", content_type="text/html"), PYAI)
        assert any("text/html" in str(p) for p in problems) and any("not JSON" in str(p) for p in problems)

    def test_missing_member_is_named(self):
        problems = checks.envelope_problems(exchange(401, {"error": {"message": "x", "type": "y"}}), PYAI)
        assert problems and "code" in str(problems[0])

    def test_mindproxy_shape(self):
        assert checks.envelope_problems(exchange(429, {"error": {"type": "rate_limited", "message": "slow"}}), MINDPROXY) == []
        assert checks.envelope_problems(exchange(429, openai_error("x") | {"error": {"message": "m"}}), MINDPROXY)


class TestCodes:
    def test_catalogued_code_passes(self):
        assert checks.code_problems(exchange(402, openai_error("credit_exhausted")), PYAI) == []

    def test_uncatalogued_code_on_closed_status_fails(self):
        assert checks.code_problems(exchange(402, openai_error("payment_required")), PYAI)

    def test_open_status_allows_anything(self):
        assert checks.code_problems(exchange(404, openai_error(None)), PYAI) == []
        assert checks.code_problems(exchange(503, openai_error("upstream_down")), PYAI) == []

    def test_status_mismatch(self):
        assert checks.status_problems(exchange(400, openai_error("forbidden")), PYAI)
        assert checks.status_problems(exchange(403, openai_error("forbidden")), PYAI) == []

    def test_mindproxy_code_in_type(self):
        assert checks.code_problems(exchange(403, {"error": {"type": "ip_not_allowed", "message": "m"}}), MINDPROXY) == []
        assert checks.code_problems(exchange(403, {"error": {"type": "forbidden", "message": "m"}}), MINDPROXY)


class TestMessages:
    @pytest.mark.parametrize("message", ["", "   ", None, 7])
    def test_empty_or_not_a_string(self, message):
        assert checks.message_problems(exchange(401, openai_error("unauthorized", message=message)), PYAI)

    @pytest.mark.parametrize("message", [
        'Traceback (most recent call last):\n  File "/srv/app.py", line 3',
        "failed at /usr/lib/python3/site-packages/x.py",
        "upstream db-1.prod.internal refused",
        "upstream api.acme.corp refused the connection",
        "cannot reach 10.0.3.7:5432",
        "error in handler.go:42",
    ])
    def test_leaks_are_found(self, message):
        assert checks.message_leak_problems(exchange(500, openai_error(None, message=message)), PYAI)

    @pytest.mark.parametrize("message", ["Invalid URL (POST /v1/x)", "Rate limit exceeded. Retry after 30s.",
                                         "Model gpt-4.1 is not allowed",
                                         "Contact billing@acme.corp to raise your limit.",
                                         "Write to support@eu.acme.corp or ops@gateway.internal."])
    def test_ordinary_messages_pass(self, message):
        assert checks.message_leak_problems(exchange(400, openai_error(None, message=message)), PYAI) == []


class TestHeaders:
    def test_request_id(self):
        assert checks.request_id_problems(exchange(401, {}, headers={"x-request-id": "req_1"}), PYAI) == []
        assert checks.request_id_problems(exchange(401, {}), PYAI)
        assert checks.request_id_problems(exchange(401, {}, headers={"x-request-id": " "}), PYAI)

    def test_duplicate_ids(self):
        same = [exchange(401, {}, headers={"x-request-id": "a"}) for _ in range(2)]
        assert checks.duplicate_request_ids(same, PYAI)

    @pytest.mark.parametrize("value,ok", [("3", True), ("0", True), ("Wed, 21 Oct 2015 07:28:00 GMT", True),
                                          ("1.5", False), ("-1", False), ("soon", False), ("", False)])
    def test_retry_after_formats(self, value, ok):
        problems = checks.retry_after_problems(exchange(429, {}, headers={"retry-after": value}))
        assert (problems == []) is ok

    def test_retry_after_missing(self):
        assert checks.retry_after_problems(exchange(429, {}))
        assert checks.retry_after_problems(exchange(402, {})) == []

    def test_rate_limit_headers(self):
        good = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "12"}
        assert checks.rate_limit_header_problems(exchange(429, {}, headers=good), MINDPROXY) == []
        assert checks.rate_limit_header_problems(exchange(429, {}, headers={**good, "X-RateLimit-Remaining": "9"}), MINDPROXY)
        assert checks.rate_limit_header_problems(exchange(429, {}, headers={**good, "X-RateLimit-Reset": "-1"}), MINDPROXY)
        assert checks.rate_limit_header_problems(exchange(429, {}, headers={"X-RateLimit-Limit": "5"}), MINDPROXY)


class TestCredentialEcho:
    KEY = "sk-ref-0123456789abcdef0123456789abcdef"

    def test_full_echo(self):
        ex = exchange(401, openai_error("unauthorized", message=f"Incorrect API key provided: {self.KEY}"),
                      presented=(self.KEY,))
        assert checks.credential_echo_problems(ex)

    def test_masked_prefix_of_eight_is_allowed(self):
        ex = exchange(401, openai_error("unauthorized", message=f"Incorrect API key provided: {self.KEY[:8]}****cdef"),
                      presented=(self.KEY,))
        assert checks.credential_echo_problems(ex) == []

    def test_nine_characters_are_too_many(self):
        # Nine characters of the secret part; the public `sk-ref-` prefix does not count.
        ex = exchange(401, openai_error("unauthorized", message=f"key …{self.KEY[7:16]}…"), presented=(self.KEY,))
        assert checks.credential_echo_problems(ex)
        ex = exchange(401, openai_error("unauthorized", message=f"key {self.KEY[:15]}…"), presented=(self.KEY,))
        assert checks.credential_echo_problems(ex) == []

    def test_scheme_word_and_public_prefix_are_no_echo(self):
        """`pyai_test_`, `sk-` and readable words are public (the scheme word alone is never presented:
        the `bearer_challenge` variant guards that end to end)."""
        key = "pyai_test_Zq8Xw2Lk9Pm4Rt7Yv1Bn6Cd3"
        ex = exchange(402, openai_error("credit_exhausted", message="Add credit (or use a pyai_test_ key)."), presented=(key,))
        assert checks.credential_echo_problems(ex) == []
        key = "sk-ref-concurrency-limited-0123456789abcdef0123456789abcdef"
        ex = exchange(429, openai_error("x", message="Too many concurrent realtime sessions."), presented=(key,))
        assert checks.credential_echo_problems(ex) == []
        ex = exchange(429, openai_error("x", message=f"key {key}"), presented=(key,))
        assert checks.credential_echo_problems(ex)

    def test_low_entropy_fragment_is_not_an_echo(self):
        key = "sk-gwc-valid-0000000000000001"
        ex = exchange(200, {}, headers={"x-cost": "5.000000000000001e-05"}, presented=(key,))
        assert checks.credential_echo_problems(ex) == []
        ex = exchange(200, {}, headers={"x-key": key}, presented=(key,))
        assert checks.credential_echo_problems(ex)

    def test_header_echo(self):
        ex = exchange(401, {}, headers={"x-debug-key": self.KEY}, presented=(self.KEY,))
        assert checks.credential_echo_problems(ex)


class TestRetryAfterParser:
    """One parser (conformance.protocol.retry_after) for HDR-2, RTY-2, HDR-4 and realtime."""

    def test_three_http_date_forms_and_large_delta(self):
        from datetime import datetime, timezone

        from conformance.protocol.retry_after import parse_retry_after

        now = datetime(2026, 11, 29, 23, 0, 0, tzinfo=timezone.utc)
        for value in ("Sun, 29 Nov 2026 23:00:07 GMT", "Sunday, 29-Nov-26 23:00:07 GMT", "Sun Nov 29 23:00:07 2026"):
            assert parse_retry_after(value, now) == 7.0, value
        assert parse_retry_after("2147483648", now) == 2147483648.0
        for value in ("²", "5s", "-1", "soon", "Sun, 31 Feb 2026 23:00:07 GMT", ""):
            assert parse_retry_after(value, now) is None, value

    def test_checks_agree_and_never_crash(self):
        from conformance.checks.retry import retry_problems

        for value in ("Sun Nov  6 08:49:37 1994", "Sunday, 06-Nov-94 08:49:37 GMT", "2147483648"):
            ex = exchange(429, {}, headers={"retry-after": value})
            assert checks.retry_after_problems(ex) == [] and retry_problems(ex) == [], value
        bad = exchange(429, {}, headers={"retry-after": "²".encode()})  # raw bytes, as on the wire
        assert checks.retry_after_problems(bad) and retry_problems(bad)


class TestProfileChoices:
    def test_reset_formats(self):
        import dataclasses

        headers = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0"}
        for reset in ("12", "1764459999", "2026-11-29T23:00:00Z", "Sun, 29 Nov 2026 23:00:07 GMT", "6m0s"):
            ex = exchange(429, {}, headers={**headers, "X-RateLimit-Reset": reset})
            assert checks.rate_limit_header_problems(ex, MINDPROXY) == [], reset
        strict = dataclasses.replace(MINDPROXY, rate_limit_reset_format="delta_seconds")
        ex = exchange(429, {}, headers={**headers, "X-RateLimit-Reset": "6m0s"})
        assert checks.rate_limit_header_problems(ex, strict)
        ex = exchange(429, {}, headers={**headers, "X-RateLimit-Reset": "soon"})
        assert checks.rate_limit_header_problems(ex, MINDPROXY)

    def test_protocol_statuses_leave_the_code_open(self):
        for status in (406, 410, 411, 414, 431):
            assert checks.code_problems(exchange(status, openai_error(None)), PYAI) == [], status
            body = {"error": {"type": None, "message": "too large"}}
            assert checks.code_problems(exchange(status, body), MINDPROXY) == [], status
        assert checks.code_problems(exchange(418, openai_error(None)), PYAI)

    def test_charged_drives_the_not_charged_checks(self):
        import dataclasses

        assert not PYAI.charged("rate_limit_exceeded", 429) and not PYAI.charged(None, 400)
        charged = dataclasses.replace(PYAI, codes=tuple(dataclasses.replace(c, charged=True) if c.code == "forbidden"
                                                        else c for c in PYAI.codes))
        assert charged.charged("forbidden", 403)


def test_hdr2_whole_run_leaves_the_caps_alone():
    """HDR-2 asks Retry-After of the rate limit's 429; a catalogued cap's 429 may omit it
    (RFC 6585 §4 "MAY include a Retry-After header"), so the whole-run observer does not ask it."""

    def answer(code: str) -> Exchange:
        return exchange(429, {"error": {"message": "m", "type": "t", "code": code, "param": None}})

    assert checks.retry_after_problems(answer("daily_cap_exceeded"), PYAI) == []
    assert checks.retry_after_problems(answer("concurrency_limit_exceeded"), PYAI) == []
    assert checks.retry_after_problems(answer("insufficient_quota"), PYAI) == []  # a 402 code at 429: ENV-3's
    assert checks.retry_after_problems(answer("rate_limit_exceeded"), PYAI)
    assert checks.retry_after_problems(answer("something_else"), PYAI)
