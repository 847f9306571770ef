"""Realtime, streaming and management planes: each defect fails exactly its requirements, and the
suite leaves no realtime session open behind it."""

from __future__ import annotations

import time

import httpx
import pytest

from conformance.reference.server import ReferenceProcess


@pytest.mark.parametrize(
    "defect,expected,failing_test",
    [
        ("unchecked_agent_id", {"MAP-3"}, "test_code_produced[invalid_agent_id]"),
        ("no_concurrency_limit", {"MAP-3"}, "test_code_produced[concurrency_limit_exceeded]"),
        ("stream_prestart_error_as_sse", {"ENV-6"}, "test_error_before_stream_is_json[unauthorized]"),
        ("midstream_error_not_enveloped", {"ENV-6"}, "test_error_after_first_event_is_an_event"),
        ("management_errors_in_envelope", {"PRB-1", "PRB-3"}, "test_planes_keep_their_shapes"),
        ("problem_status_mismatch", {"PRB-2"}, "test_problem_status_matches_http_status"),
        ("problem_without_request_id", {"PRB-1"}, "test_management_errors_are_problem_json"),
    ],
)
def test_plane_defect_fails_exactly_its_requirements(suite, defect, expected, failing_test):
    run = suite(defects=(defect,))
    assert run.returncode == 1, run.output[-3000:]
    assert run.verdict == "non-conformant"
    assert run.failed() == expected, (run.failed(), run.output[-2000:])
    assert f"::{failing_test}" in run.output, run.output[-3000:]
    row = next(r for r in run.report["requirements"] if r["id"] == sorted(expected)[0])
    assert row["reason"] and row["evidence"], row


def test_no_retry_after_also_breaks_the_realtime_429(suite):
    run = suite(defects=("no_retry_after",))
    assert "HDR-2" in run.failed()
    assert "::test_retry_after[concurrency_limit_exceeded]" in run.output, run.output[-3000:]


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
