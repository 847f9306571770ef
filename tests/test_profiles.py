"""The shipped profiles carry every code, status, header and "not charged" rule of their seed documents."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance.contract.profiles import load_profile

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"

# The seed tables, transcribed: code → status. The test below re-reads the seeds when present.
MINDPROXY = {"unauthorized": 401, "billing_shortfall": 402, "api_key_quota_exceeded": 402,
             "model_not_allowed": 403, "ip_not_allowed": 403, "rate_limited": 429}
PYAI = {"unauthorized": 401, "forbidden": 403, "origin_not_allowed": 403, "invalid_agent_id": 400,
        "credit_exhausted": 402, "key_budget_exceeded": 402, "insufficient_quota": 402,
        "rate_limit_exceeded": 429, "concurrency_limit_exceeded": 429, "daily_cap_exceeded": 429}
PYAI_RETRY = {"unauthorized": "never", "forbidden": "never", "origin_not_allowed": "never",
              "invalid_agent_id": "never", "credit_exhausted": "never", "key_budget_exceeded": "never",
              "insufficient_quota": "unstated", "rate_limit_exceeded": "backoff",
              "concurrency_limit_exceeded": "wait", "daily_cap_exceeded": "wait_reset"}


@pytest.mark.parametrize("name,table", [("mindproxy", MINDPROXY), ("pyai", PYAI)])
def test_catalogue_matches_seed_table(name, table):
    profile = load_profile(name)
    assert {c.code: c.status for c in profile.codes} == table
    assert all(not c.charged for c in profile.codes), "every catalogued rejection is 'not charged'"


def test_pyai_retry_rules():
    assert {c.code: c.retry for c in load_profile("pyai").codes} == PYAI_RETRY


def test_headers():
    mind, pyai = load_profile("mindproxy"), load_profile("pyai")
    assert mind.request_id_header == "X-TT-Request-ID"
    assert set(mind.rate_limit_headers.values()) == {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
    assert pyai.request_id_header == "x-request-id" and pyai.retry_after_on_429
    assert pyai.has_management and not mind.has_management
    assert mind.has_tasks and not pyai.has_tasks
    assert 404 in mind.open_statuses and mind.is_open_status(503)


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed documents (../shared/seeds) are not beside this checkout")
def test_seed_documents_still_match():
    """Re-read the seeds so a changed contract shows up here rather than in a user's report."""
    mind_text = next(SEEDS.glob("000_*.txt")).read_text()
    for code, status in MINDPROXY.items():
        assert re.search(rf"{status}\s*{code}", mind_text), f"{status} {code} not in the mindproxy seed"
    pyai_text = next(SEEDS.glob("004_*.txt")).read_text()
    for code, status in PYAI.items():
        assert re.search(rf"{code}\s*\|\s*{status}", pyai_text), f"{code} | {status} not in the pyai seed"
