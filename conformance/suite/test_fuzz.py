"""FUZ-1..3: generated malformed requests never break the gateway, never hang it, are never billed.

Each fuzz test sends at most `--fuzz-examples` generated requests (plus a bounded number while
shrinking a failure), seeded by `--hypothesis-seed` or a fixed per-test seed. A violation of the
other FUZ requirement found on the way (a hang while fuzzing for 5xx, say) is filed under that
requirement through the observer, with the shrunk example.
"""

from __future__ import annotations

from functools import partial

import pytest

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
from conformance.fuzzing.openapi import case_strategy, case_strategy_key, operation_labels, request_of
from conformance.outcomes import cite
from conformance.runner import observer
from conformance.transport.client import BudgetExhausted
from conformance.transport.gather import in_order


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

    def go(strategy, send_one, *, examples=None, drawn_as=None):
        examples = examples or run_context.fuzz_examples
        fuzzer = Fuzzer(client, profile, label=f"fuzz:{name}", max_sends=examples * SHRINK_FACTOR)

        def prop(value):
            fuzzer.check(send_one(fuzzer, key, value))

        findings = gathered_search(fuzzer, strategy, prop, examples=examples, seed=seed, stop=fuzzer.out_of_budget,
                                   drawn_as=drawn_as)
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


# FUZ-3 first: its spend window is the run's last, so what is gathered ahead (conftest
# `_gather_ahead`) goes out beside the FUZ-1 searches.
@pytest.mark.requirement("FUZ-3")
def test_fuzzed_rejections_not_charged(run_context, client, book, profile, target_config, need_role, no_problems):
    """Fuzzed rejected requests are not charged (one balance check around the whole fuzz run)."""
    need_role("valid")
    no_problems(fuzzed_rejection_charges(client, profile, target_config, examples=run_context.fuzz_examples,
                                         seed=run_context.fuzz_seed, book=book, billable_allowed=run_context.billable_allowed))


@pytest.mark.requirement("FUZ-1")
def test_fuzz_openapi(openapi_operation, fuzz, profile, run_context):
    """Property-based malformed requests (wrong types, missing / unknown fields, bad JSON, odd encodings, control characters and oversized values in headers and bodies) never get a 5xx and always get a valid envelope."""
    billable = run_context.billable_allowed
    unbillable_model = None if billable else NO_SUCH_MODEL

    def send_one(fuzzer, key, case):
        method, path, headers, body, params = request_of(case, unbillable_model=unbillable_model)
        return fuzzer.send(method, path, authorization=f"Bearer {key}", headers=headers, content=body, params=params)

    fuzz(partial(case_strategy, profile, openapi_operation, billable_allowed=billable), send_one,
         drawn_as=case_strategy_key(profile, openapi_operation, billable_allowed=billable))


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
    probes = list(oversized_requests(key))
    sent: list = [None] * len(probes)

    def send(i: int):
        def call() -> None:
            sent[i] = fuzzer.send(**probes[i][1])
        return call

    def judged(i: int) -> bool:
        """Judge probe i (in order, as they come back); True stops starting further probes."""
        name, exchange = probes[i][0], sent[i]
        if exchange is None:
            raise BudgetExhausted(f"{fuzzer.budget_error}: oversized probes incomplete")
        try:
            judge(exchange, profile)
        except HangFinding as finding:
            hangs.append((name, finding))
            return True  # a target that stalls once stalls again: each further probe would cost a full timeout
        except FuzzFinding as finding:  # FUZ-1 territory: filed there by the observer / fuzz tests
            # (only a finding: a bug in the judge itself is the suite's error, never a pass)
            current = observer.observing(client)
            if current is not None:
                current.add("FUZ-1", [f"{name}: {finding.problems[0]}"], exchange)
        return False

    # Side by side, judged in order: at the first hang no further probe starts (the few in flight
    # still end, each within the request timeout, at the same time).
    in_order([send(i) for i in range(len(probes))], client.concurrency, judged)
    if hangs:
        cite(*(f.exchange for _, f in hangs))
        name, first = hangs[0]
        pytest.fail(f"{name}: {describe_finding(first, client, None)}" + rule_suffix, pytrace=False)
