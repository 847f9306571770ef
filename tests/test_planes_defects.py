"""Realtime, streaming and management planes: the suite leaves no realtime session open behind it
(which requirements each defect fails: tests/test_kill_matrix.py)."""

from __future__ import annotations

import time

import httpx
import pytest

from conformance.reference.gateway_process import ReferenceProcess


def test_no_retry_after_breaks_the_rate_limit_not_the_caps(suite):
    """HDR-2 asks Retry-After of the rate limit's 429; the caps' (the realtime concurrency 429, the
    daily cap) may omit it (RFC 6585 §4 "MAY"), so they are not HDR-2 cases at all."""
    run = suite(defects=("no_retry_after",))
    assert "HDR-2" in run.failed()
    assert "::test_retry_after[rate_limit_exceeded]" in run.output, run.output[-3000:]
    assert "test_retry_after[concurrency_limit_exceeded]" not in run.output


def _sessions(gateway: ReferenceProcess) -> dict[str, int]:
    admin = gateway.config["billing"]["api_key"]
    answer = httpx.get(f"{gateway.url}/_oracle/realtime/sessions", headers={"authorization": f"Bearer {admin}"},
                       trust_env=False, timeout=5)
    answer.raise_for_status()
    return answer.json()


@pytest.mark.parametrize("defects", [(), ("unchecked_agent_id", "no_concurrency_limit")])
def test_no_realtime_session_left_open(suite, defects):
    """Whatever the target does (accepts bad ids, never limits), every session the suite opened is closed."""
    with ReferenceProcess("pyai", defects=defects) as gateway:
        run = suite("--target", gateway.url, "--target-config", str(gateway.config_path), "-k", "realtime or code_produced")
        assert run.report is not None, run.output[-3000:]
        assert run.report["requests_sent"] > 0
        deadline = time.monotonic() + 5  # the gateway notices each close a moment after the client
        while _sessions(gateway)["open"] and time.monotonic() < deadline:
            time.sleep(0.05)
        sessions = _sessions(gateway)
        assert sessions["open"] == 0, sessions
        assert sessions["opened_total"] >= 2, sessions  # the run did hold sessions: the zero means closed
