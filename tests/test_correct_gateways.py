"""Issue #20: correct gateways the suite once failed, and the provider faults it once misread.

Each test runs the suite (only the tests that matter, `-rA` to read each outcome) against the
reference gateway with one clean variant (`conformance/data/variants.yaml`) or defect
(`defects.yaml`) switched on, and names the one test whose verdict the fix changed. Each failed
before its fix: the variant was failed, the defect passed, or the fault never played went unseen.
"""

from __future__ import annotations

import re

from conformance.transport.client import source_addresses
from conformance.transport.uri_template import expand


def outcome(run, test: str) -> str:
    """The outcome `-rA` printed for the test whose id ends with `test` (PASSED, FAILED, SKIPPED, …)."""
    found = re.findall(r"^(PASSED|FAILED|SKIPPED|XFAIL|XPASS|ERROR|INCONCLUSIVE)\S* (?:\[\d+\] )?\S*" + re.escape(test),
                       run.output, re.M)
    assert found, f"{test} not in the output:\n{run.output[-3000:]}"
    return found[0]


# --- RFC 6570 expansion (billing oracle, tasks, realtime URL) ------------------------------------

def test_templates_encode_what_they_substitute():
    url = expand("https://console.example/api/requests/{request_id}?key={key_id}&other={other}",
                 {"request_id": "4bf92f3577b34da6/7;o=1", "key_id": "k 1"})
    assert url == "https://console.example/api/requests/4bf92f3577b34da6%2F7%3Bo%3D1?key=k%201&other={other}"
    assert expand("/v1/tasks/{+id}", {"id": "a/b c"}) == "/v1/tasks/a/b%20c"


def test_one_expander_for_every_url_template():
    """No module of the suite fills a configured template by string replacement (the billing oracle
    once did, so a request id with "/" became two path segments)."""
    from pathlib import Path

    import conformance

    root = Path(conformance.__file__).parent
    offenders = [str(path.relative_to(root)) for path in root.rglob("*.py")
                 if "reference" not in path.parts and re.search(r"""\.replace\(\s*(?:f?["']\{|"\{"\s*\+)""",
                                                                   path.read_text(encoding="utf-8"))]
    assert not offenders, offenders


def test_trace_context_request_ids_are_looked_up_as_one_segment(suite):
    run = suite("-rA", "-k", "test_billable_success_visible or test_unauthorized_not_charged",
                "--reference-variant", "trace_context_request_ids")
    assert run.report is not None, run.output[-3000:]
    assert "CHG-0" not in run.failed() and "CHG-1" not in run.failed(), run.output[-3000:]
    assert run.status("CHG-0") not in ("inconclusive", "failed"), run.output[-3000:]


# --- realtime ---------------------------------------------------------------------------------------

def test_slot_freed_after_the_gateways_retry_after(suite):
    run = suite("-rA", "-k", "test_freed_session_slot_is_reused", "--reference-variant", "realtime_slot_grace")
    assert outcome(run, "test_freed_session_slot_is_reused[concurrency_limit_exceeded]") == "PASSED", run.output[-3000:]


def test_agent_id_limit_above_4k_without_config(suite):
    run = suite("-rA", "-k", "test_malformed_agent_id_refused", "--reference-variant", "agent_id_8k_unconfigured")
    assert outcome(run, "test_malformed_agent_id_refused[agent_id_too_long]") == "PASSED", run.output[-3000:]


def test_agent_id_never_refused_still_fails(suite):
    run = suite("-rA", "-k", "test_malformed_agent_id_refused", defects=("unchecked_agent_id",))
    assert outcome(run, "test_malformed_agent_id_refused[agent_id_too_long]") == "FAILED", run.output[-3000:]


# --- MAP-2's wrong scheme ---------------------------------------------------------------------------

def test_key_accepted_as_basic_user_passes_map2(suite):
    run = suite("-rA", "-k", "test_bad_key_unauthorized", "--reference-variant", "basic_user_key")
    assert outcome(run, "test_bad_key_unauthorized[wrong_scheme]") == "PASSED", run.output[-3000:]


def test_token_read_after_any_scheme_fails_map2(suite):
    run = suite("-rA", "-k", "test_bad_key_unauthorized", defects=("any_scheme_token",))
    assert outcome(run, "test_bad_key_unauthorized[wrong_scheme]") == "FAILED", run.output[-3000:]


# --- ENV-5: the caller's own address ----------------------------------------------------------------

def test_suite_knows_the_address_it_connects_from():
    assert "127.0.0.1" in source_addresses("http://127.0.0.1:8080/v1/x")


def test_caller_address_in_ip_refusal_is_not_a_leak(suite):
    run = suite("--profile", "mindproxy", "-rA", "-k", "test_message_reveals_no_internals",
                "--reference-variant", "ip_message_names_caller")
    assert outcome(run, "test_message_reveals_no_internals[ip_not_allowed]") == "PASSED", run.output[-3000:]


# --- UPS: the provider's record, the restricted model, every answer read ------------------------

def test_fault_never_played_is_inconclusive_not_failed(suite):
    """A gateway that sends every request upstream as its default model: the provider's record shows no
    fault, so nothing about a failure can be judged (it was failed UPS-1/3/4/8 and passed UPS-2)."""
    run = suite("-rA", "-k", "test_upstream", "--reference-variant", "upstream_model_fixed")
    assert run.report is not None, run.output[-3000:]
    assert not run.failed(), run.output[-3000:]
    assert run.status("UPS-2") == "inconclusive", run.output[-3000:]
    assert run.status("UPS-1") == "inconclusive", run.output[-3000:]
    ups1 = next(row for row in run.report["requirements"] if row["id"] == "UPS-1")
    assert "provider.models" in ups1["reason"], ups1


def test_provider_address_in_a_200_header_fails_ups2(suite):
    run = suite("-rA", "-k", "test_nothing_of_the_provider_leaks", defects=("upstream_address_on_success",))
    assert outcome(run, "test_nothing_of_the_provider_leaks") == "FAILED", run.output[-3000:]


def test_restricted_key_refused_only_its_forbidden_model(suite):
    run = suite("-rA", "-k", "test_rejected_requests_never_reach_the_provider",
                "--reference-variant", "restricted_serves_provider_models")
    assert outcome(run, "test_rejected_requests_never_reach_the_provider[restricted]") == "PASSED", run.output[-3000:]


def test_forwarded_forbidden_model_fails_ups5(suite):
    run = suite("-rA", "-k", "test_rejected_requests_never_reach_the_provider",
                defects=("upstream_forward_before_checks",))
    assert outcome(run, "test_rejected_requests_never_reach_the_provider[restricted]") == "FAILED", run.output[-3000:]


# --- FUZ-2 is not UPS-8's -----------------------------------------------------------------------

def test_stalled_provider_is_judged_by_ups8_not_fuz2(suite):
    run = suite("-rA", "-k", "test_slow_provider_is_504", defects=("upstream_no_timeout",))
    assert run.report is not None, run.output[-3000:]
    assert outcome(run, "test_slow_provider_is_504") == "FAILED", run.output[-3000:]
    assert "FUZ-2" not in run.failed(), run.output[-3000:]


def test_gateway_waiting_out_a_provider_retry_after_is_judged_by_ups4(suite):
    run = suite("-rA", "-k", "test_provider_429_keeps_its_wait", defects=("upstream_waits_retry_after",))
    assert run.report is not None, run.output[-3000:]
    assert outcome(run, "test_provider_429_keeps_its_wait[429-date]") == "FAILED", run.output[-3000:]
    assert "FUZ-2" not in run.failed(), run.output[-3000:]
