"""FUZ-1..3: generated malformed requests never break the gateway, never hang it, are never billed.

Each fuzz test sends at most `--fuzz-examples` generated requests (plus a bounded number while
shrinking a failure), seeded by `--hypothesis-seed` or a fixed per-test seed. A violation of the
other FUZ requirement found on the way (a hang while fuzzing for 5xx, say) is filed under that
requirement through the observer, with the shrunk example.
"""

from __future__ import annotations

import pytest
from hypothesis import strategies as st

from conformance.fuzzing.billed_rejections import fuzzed_rejection_charges
from conformance.fuzzing.engine import (
    NO_SUCH_MODEL,
    SHRINK_FACTOR,
    Fuzzer,
    FuzzFinding,
    HangFinding,
    authorization_values,
    describe_finding,
    gathered_search,
    judge,
    oversized_requests,
    query_and_paths,
    raw_bodies,
    seed_for,
)
from conformance.fuzzing.openapi import operation, operation_labels, request_of
from conformance.outcomes import cite
from conformance.runner import observer
from conformance.transport.client import BudgetExhausted


def pytest_generate_tests(metafunc):
    if "openapi_operation" in metafunc.fixturenames:
        metafunc.parametrize("openapi_operation", operation_labels())


@pytest.fixture
def fuzz(request, run_context, client, profile, need_role):
    """`fuzz(strategy, send_one)`: search, report findings, skip when the budget ran out first."""
    key = need_role("valid")["api_key"]
    if run_context.fuzz_examples == 0:
        pytest.skip("fuzzing is switched off (--fuzz-examples 0)")
    name = request.node.name
    seed = seed_for(name, run_context.fuzz_seed)

    def go(strategy, send_one, *, examples=None):
        examples = examples or run_context.fuzz_examples
        fuzzer = Fuzzer(client, profile, label=f"fuzz:{name}", max_sends=examples * SHRINK_FACTOR)

        def prop(value):
            fuzzer.check(send_one(fuzzer, key, value))

        findings = gathered_search(fuzzer, strategy, prop, examples=examples, seed=seed, stop=fuzzer.out_of_budget)
        _report(findings, fuzzer, client, seed)
        return fuzzer

    return go


def _report(findings, fuzzer, client, seed):
    """Own-requirement findings fail the test; the other FUZ id's go to the observer."""
    own = [f for f in findings if not isinstance(f, HangFinding)]
    for finding in findings:
        if isinstance(finding, HangFinding):
            current = observer.observing(client)
            if current is not None:
                current.add("FUZ-2", [describe_finding(finding, client, seed)], finding.exchange, lead=True)
    if own:
        cite(*(f.exchange for f in own))
        pytest.fail(describe_finding(own[0], client, seed), pytrace=False)
    if fuzzer.budget_error is not None:
        raise BudgetExhausted(f"{fuzzer.budget_error}: fuzzing stopped after {fuzzer.sent} requests, incomplete")


@pytest.mark.requirement("FUZ-1")
def test_fuzz_openapi(openapi_operation, fuzz, profile, run_context):
    """Property-based malformed requests (wrong types, missing / unknown fields, bad JSON, odd encodings, control characters and oversized values in headers and bodies) never get a 5xx and always get a valid envelope."""
    from schemathesis import GenerationMode

    op = operation(profile, openapi_operation)
    modes = [op.as_strategy(generation_mode=GenerationMode.NEGATIVE)]
    # A schema-valid request to a billable route is a billable success: only where spending is allowed.
    if run_context.billable_allowed or openapi_operation.startswith("GET "):
        modes.insert(0, op.as_strategy(generation_mode=GenerationMode.POSITIVE))

    unbillable_model = None if run_context.billable_allowed else NO_SUCH_MODEL

    def send_one(fuzzer, key, case):
        method, path, headers, body, params = request_of(case, unbillable_model=unbillable_model)
        return fuzzer.send(method, path, authorization=f"Bearer {key}", headers=headers, content=body, params=params)

    fuzz(st.one_of(*modes), send_one)


@pytest.mark.requirement("FUZ-1")
def test_fuzz_authorization_header(fuzz, need_role):
    """Property-based malformed requests (wrong types, missing / unknown fields, bad JSON, odd encodings, control characters and oversized values in headers and bodies) never get a 5xx and always get a valid envelope."""
    key = need_role("valid")["api_key"]

    def send_one(fuzzer, _key, value):
        return fuzzer.send("GET", "/v1/models", authorization=value)

    fuzz(authorization_values(key), send_one)


@pytest.mark.requirement("FUZ-1")
def test_fuzz_raw_body(fuzz):
    """Property-based malformed requests (wrong types, missing / unknown fields, bad JSON, odd encodings, control characters and oversized values in headers and bodies) never get a 5xx and always get a valid envelope."""
    def send_one(fuzzer, key, value):
        content_type, body = value
        headers = {"content-type": content_type} if content_type is not None else {}
        return fuzzer.send("POST", "/v1/chat/completions", authorization=f"Bearer {key}", headers=headers, content=body)

    fuzz(raw_bodies(), send_one)


@pytest.mark.requirement("FUZ-1")
def test_fuzz_query_and_path(fuzz):
    """Property-based malformed requests (wrong types, missing / unknown fields, bad JSON, odd encodings, control characters and oversized values in headers and bodies) never get a 5xx and always get a valid envelope."""
    def send_one(fuzzer, key, value):
        method, path, params = value
        return fuzzer.send(method, path, authorization=f"Bearer {key}", params=params)

    fuzz(query_and_paths(), send_one)


@pytest.mark.requirement("FUZ-2")
def test_oversized_requests_answered_in_time(client, profile, need_role, rule_suffix):
    """No request hangs: every response arrives within the configured timeout.

    Fixed probes (each already minimal); any fuzz test's hang also lands here via the observer."""
    key = need_role("valid")["api_key"]
    fuzzer = Fuzzer(client, profile, label="fuzz:oversized", max_sends=100)
    hangs = []
    for name, request in oversized_requests(key):
        exchange = fuzzer.send(**request)
        if exchange is None:
            raise BudgetExhausted(f"{fuzzer.budget_error}: oversized probes incomplete")
        try:
            judge(exchange, profile)
        except HangFinding as finding:
            hangs.append((name, finding))
            break  # a target that stalls once stalls again: each further probe would cost a full timeout
        except FuzzFinding as finding:  # FUZ-1 territory: filed there by the observer / fuzz tests
            # (only a finding: a bug in the judge itself is the suite's error, never a pass)
            current = observer.observing(client)
            if current is not None:
                current.add("FUZ-1", [f"{name}: {finding.problems[0]}"], exchange)
    if hangs:
        cite(*(f.exchange for _, f in hangs))
        name, first = hangs[0]
        pytest.fail(f"{name}: {describe_finding(first, client, None)}" + rule_suffix, pytrace=False)


@pytest.mark.requirement("FUZ-3")
def test_fuzzed_rejections_not_charged(run_context, client, book, profile, target_config, need_role, no_problems):
    """Fuzzed rejected requests are not charged (one balance check around the whole fuzz run)."""
    need_role("valid")
    no_problems(fuzzed_rejection_charges(client, profile, target_config, examples=run_context.fuzz_examples,
                                         seed=run_context.fuzz_seed, book=book, billable_allowed=run_context.billable_allowed))
