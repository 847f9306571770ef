"""HDR-1..3: the headers clients rely on — request id, Retry-After, rate-limit headers."""

from __future__ import annotations

import pytest

from conformance import checks
from conformance.outcomes import cite


@pytest.fixture
def rate_limited_429(scenario, profile):
    def get(code_name: str):
        exchange = scenario(code_name)
        if exchange.status != 429:
            pytest.skip(f"{exchange.describe()}: no 429 was produced to check (reported under MAP-3)")
        return exchange

    return get


@pytest.mark.requirement("HDR-1")
def test_request_id_present(error_scenario, scenario, profile, no_problems):
    exchange = scenario(error_scenario)
    problems = checks.request_id_problems(exchange, profile)
    no_problems(problems)


@pytest.mark.requirement("HDR-1")
def test_request_id_on_success(client, need_role, profile, no_problems):
    key = need_role("valid")["api_key"]
    exchanges = [client.request("GET", "/v1/models", api_key=key, label="models") for _ in range(2)]
    cite(*exchanges)
    for exchange in exchanges:
        assert exchange.status is not None and exchange.status < 400, (
            f"{exchange.describe()}: the valid role could not list models, so no success response to check"
        )
    problems = [p for e in exchanges for p in checks.request_id_problems(e, profile)]
    problems += checks.duplicate_request_ids(exchanges, profile)
    no_problems(problems)


@pytest.mark.requirement("HDR-1")
def test_request_id_unique(book, client, profile, rule):
    book.get("no_credentials") if "no_credentials" in book.scenarios else None
    extra = [client.request("POST", "/v1/chat/completions", json=book.chat_body(), label="unauthenticated")
             for _ in range(2)]
    cite(*extra)
    seen = [e for e in client.exchanges if e.status is not None]
    problems = checks.duplicate_request_ids(seen, profile)
    assert not problems, f"{len(problems)} repeated request ids: " + "; ".join(problems[:3]) + rule


@pytest.mark.requirement("HDR-2")
def test_retry_after(rate_limit_code, rate_limited_429, no_problems):
    exchange = rate_limited_429(rate_limit_code)
    problems = checks.retry_after_problems(exchange)
    no_problems(problems)


@pytest.mark.requirement("HDR-3")
def test_rate_limit_headers(rate_limit_code, rate_limited_429, profile, no_problems):
    exchange = rate_limited_429(rate_limit_code)
    problems = checks.rate_limit_header_problems(exchange, profile)
    no_problems(problems)
