"""Failure text cites the sentence each check asks, and only what a wheel user has (issue 20):
never `SPEC.md` or `../shared/seeds/…`, but the shipped profile and the contract's own section."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from conformance.checks.sdk_retry import _retry_count_problems, decision_rule
from conformance.contract.profiles import load_profile
from conformance.contract.requirements import get
from conformance.transport.client import Exchange
from conformance.transport.sdk import SdkOutcome

REPO = Path(__file__).resolve().parents[1]
UNSHIPPED = re.compile(r"SPEC\.md|shared/seeds|\bseeds/")
# What a user reads: report text (requirement rows), option help, profile comments, schema descriptions.
SURFACES = ["conformance/data/requirements.yaml", "conformance/runner/options.py", "conformance/plugin.py",
            "fixtures/profiles/*.yaml", "schemas/*.json", "conformance/data/variants.yaml"]


def test_nothing_a_user_reads_cites_files_the_wheel_lacks() -> None:
    found = [f"{path.relative_to(REPO)}:{n}: {line.strip()[:100]}"
             for pattern in SURFACES for path in sorted(REPO.glob(pattern))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if UNSHIPPED.search(line)]
    assert not found, found


def test_an_sdk_retry_problem_cites_the_codes_own_rule() -> None:
    """RTY-3's retry half broke the code's catalogue row, not "Branch on the stable error.code"."""
    profile = load_profile("pyai")
    code = next(c for c in profile.codes if c.retry in ("backoff", "wait") and c.action)
    attempt = Exchange("POST", "http://gw.test/v1/chat/completions", {}, None, status=code.status,
                       headers=httpx.Headers())
    problems = _retry_count_problems(SdkOutcome(None, [attempt]), code)
    assert problems and all(p.cites == decision_rule(code) for p in problems)
    assert code.action in decision_rule(code) and "error.code" not in decision_rule(code)


def test_chg5_does_not_speak_of_a_rejected_request() -> None:
    """CHG-5 is a stream the client cut, which nobody rejected."""
    text = get("CHG-5").basis("pyai").line()
    assert "rejected" not in text and "cut" in text, text
