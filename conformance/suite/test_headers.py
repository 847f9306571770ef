"""HDR-1..3: the headers clients rely on — request id, Retry-After, rate-limit headers."""

from __future__ import annotations

import pytest

from conformance import checks
from conformance.checks.rate_window import own_window, remaining_problems, retry_after_before_reset_problems
from conformance.outcomes import billable_reason, cite, inconclusive, not_applicable
from conformance.transport.client import Exchange
from conformance.transport.gather import side_by_side


@pytest.fixture
def rate_limited_429(scenario, profile):
    def get(code_name: str):
        exchange = scenario(code_name)
        if exchange.status != 429:
            not_applicable(f"{exchange.describe()}: no 429 was produced to check (reported under MAP-3)")
        return exchange

    return get


@pytest.mark.requirement("HDR-1")
def test_request_id_present(error_scenario, scenario, profile, no_problems):
    """Every response, success or error, carries the profile's request-id header, non-empty and unique per request."""
    exchange = scenario(error_scenario)
    problems = checks.request_id_problems(exchange, profile)
    no_problems(problems)


@pytest.mark.requirement("HDR-1")
def test_request_id_on_success(client, book, run_context, need_role, profile, no_problems):
    """Every response, success or error, carries the profile's request-id header, non-empty and unique per request."""
    key = need_role("valid")["api_key"]
    exchanges, chats = _successes(book, key, run_context.billable_allowed)  # gathered ahead, or sent here
    if chats is None:
        # No contract promises GET /v1/models: a gateway without it answers chat completions.
        cite(*exchanges)
        inconclusive(f"{exchanges[0].describe()}: no free success response to check, and "
                     + billable_reason("a chat completion"))
    exchanges = chats or exchanges
    cite(*exchanges)
    for exchange in exchanges:
        if exchange.status is None or exchange.status >= 400:
            inconclusive(f"{exchange.describe()}: the valid role got no success response to check")
    problems = [p for e in exchanges for p in checks.request_id_problems(e, profile)]
    problems += checks.duplicate_request_ids(exchanges, profile)
    no_problems(problems)


def _successes(book, key: str, billable_allowed: bool) -> tuple[list[Exchange], list[Exchange] | None]:
    """HDR-1's two successes, sent once: (two GET /v1/models; where either failed, two chat
    completions, or None when billable requests are not allowed; else [])."""
    def make() -> tuple[list[Exchange], list[Exchange] | None]:
        client = book.client
        models = side_by_side([lambda: client.request("GET", "/v1/models", api_key=key, label="models")] * 2,
                              client.concurrency)
        if not any(e.status is None or e.status >= 400 for e in models):
            return models, []
        if not billable_allowed:
            return models, None
        return models, side_by_side([lambda: book.chat(key, label="success")] * 2, client.concurrency)
    return book.once(("HDR-1", "successes"), make)


def gather_ahead(request: pytest.FixtureRequest) -> None:
    """Send HDR-1's two successes in the background (called by conftest's `_gather_ahead` once no test
    that reads a key's spend is left before this module): they depend on nothing the tests in
    between do."""
    valid = request.getfixturevalue("target_config").role("valid")
    if valid is None or not any(getattr(item, "originalname", None) == "test_request_id_on_success"
                                for item in request.session.items):
        return
    book, billable = request.getfixturevalue("book"), request.getfixturevalue("run_context").billable_allowed
    book.client.gather_ahead("headers", lambda stop: _successes(book, valid["api_key"], billable))


@pytest.mark.requirement("HDR-1")
def test_request_id_unique(book, client, profile, rule_suffix):
    """Every response, success or error, carries the profile's request-id header, non-empty and unique per request."""
    book.get("no_credentials") if "no_credentials" in book.scenarios else None
    extra = side_by_side([lambda: client.request("POST", "/v1/chat/completions", json=book.chat_body(),
                                                 label="unauthenticated")] * 2, client.concurrency)
    seen = [e for e in client.exchanges if e.status is not None]
    problems = checks.duplicate_request_ids(seen, profile)
    # The evidence and reproduce line are the exchanges that repeated an id, not the two extra requests.
    cite(*(_first_repeat(seen, profile) or extra))
    assert not problems, f"{len(problems)} repeated request ids: " + "; ".join(map(str, problems[:3])) + rule_suffix


def _first_repeat(exchanges, profile):
    """The first two exchanges that carried the same request id (the repeat last), or []."""
    first = {}
    for exchange in exchanges:
        value = exchange.header(profile.request_id_header)
        if value and value in first:
            return [first[value], exchange]
        if value:
            first[value] = exchange
    return []


@pytest.mark.requirement("HDR-2")
def test_retry_after(backoff_code, rate_limited_429, no_problems):
    """Every 429 for the rate limit (a code whose rule is to back off: rate_limit_exceeded, rate_limited) carries Retry-After as delta-seconds or an HTTP-date (RFC 9110). The caps' 429s are RTY-4's.

    The rate limit's 429 (rule: back off and honor Retry-After) carries it. The caps' 429s
    (concurrency, daily cap) are not asked: RFC 6585 §4 makes Retry-After on a 429 a MAY and the
    contract attaches it only to the rate limit (RTY-4 judges a cap's Retry-After where it has one)."""
    exchange = rate_limited_429(backoff_code)
    problems = checks.retry_after_problems(exchange)
    no_problems(problems)


@pytest.mark.requirement("HDR-3")
def test_rate_limit_headers(rate_limit_code, rate_limited_429, profile, no_problems):
    """Every 429 carries the rate-limit headers; each parses as a non-negative integer (or the profile's format), Remaining <= Limit"""
    exchange = rate_limited_429(rate_limit_code)
    problems = checks.rate_limit_header_problems(exchange, profile)
    no_problems(problems)


# --- HDR-3 on a 429 from the key's own window (conformance/checks/rate_window.py) -------------------

def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "window_code" in metafunc.fixturenames:
        from conformance.suite.conftest import collection_profile, parametrize_cases

        codes = [c.code for c in collection_profile(metafunc.config).codes if c.trigger == "burst"]
        parametrize_cases(metafunc, "window_code", codes, "the profile catalogues no per-key rate limit")


@pytest.fixture
def own_window_429(rate_limited_429, book, profile, run_context):
    """The burst's 429, when it comes from the key's own window; inconclusive when that is unsure."""

    def get(code_name: str):
        exchange = rate_limited_429(code_name)
        code = profile.code(code_name)
        role = (book.config.role(code.role) if code and code.role else None) or {}
        yes, why_not = own_window(book.burst_history.get(code_name) or [exchange], profile, role.get("limit"),
                                  shared_by_workers=run_context.workers > 1)
        if not yes:
            inconclusive(why_not)
        return exchange

    return get


@pytest.mark.requirement("HDR-3")
def test_remaining_zero_on_own_429(window_code, own_window_429, profile, no_problems):
    """on a 429 from the key's own window Remaining is 0

    The key's own window refused it, so the profile's Remaining header says 0 calls remain.
    Costs no request: it reads the burst the scenario book already sent."""
    problems, unsure = remaining_problems(own_window_429(window_code), profile)
    if unsure and not problems:
        inconclusive(unsure)
    no_problems(problems)


@pytest.mark.requirement("HDR-6")
def test_retry_after_not_before_reset(window_code, own_window_429, profile, no_problems):
    """On a 429 from the key's own window, Retry-After does not point before the rate-limit reset header (within whole-second rounding); a Retry-After past the reset is fine.

    Practice: Retry-After does not send the client back before the reset header says the
    window reopens (within whole-second rounding), or honouring it only meets the same window's
    refusal. A Retry-After past the reset (jitter, a penalty) is fine: the client waits longer.
    Costs no request: it reads the burst the scenario book already sent."""
    problems, unsure = retry_after_before_reset_problems(own_window_429(window_code), profile)
    if unsure and not problems:
        inconclusive(unsure)
    no_problems(problems)
