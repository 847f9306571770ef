"""FUZ-1..3: generated malformed requests never break the gateway, never hang it, are never billed.

Each fuzz test sends at most `--fuzz-examples` generated requests (plus a bounded number while
shrinking a failure), seeded by `--hypothesis-seed` or a fixed per-test seed. A violation of the
other FUZ requirement found on the way (a hang while fuzzing for 5xx, say) is filed under that
requirement through the observer, with the shrunk example.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import strategies as st

from conformance.runner import observer
from conformance.transport.client import BudgetExhausted
from conformance.fuzzing.engine import (
    NO_SUCH_MODEL, SHRINK_FACTOR, Fuzzer, HangFinding, authorization_values, describe_finding, judge, oversized_requests,
    query_and_paths, raw_bodies, search, seed_for,
)
from conformance.fuzzing.openapi import operation, operation_labels, request_of
from conformance.outcomes import cite, inconclusive
from conformance.billing.charging import run_control
from conformance.billing.oracle import BillingOracle
from conformance.billing.spend import OracleUnavailable, SpendReader


def pytest_generate_tests(metafunc):
    if "openapi_operation" in metafunc.fixturenames:
        metafunc.parametrize("openapi_operation", operation_labels())


@pytest.fixture
def fuzz(request, run, client, profile, need_role):
    """`fuzz(strategy, send_one)`: search, report findings, skip when the budget ran out first."""
    key = need_role("valid")["api_key"]
    if run.fuzz_examples == 0:
        pytest.skip("fuzzing is switched off (--fuzz-examples 0)")
    name = request.node.name
    seed = seed_for(name, run.fuzz_seed)

    def go(strategy, send_one, *, examples=None):
        examples = examples or run.fuzz_examples
        fuzzer = Fuzzer(client, profile, label=f"fuzz:{name}", max_sends=examples * SHRINK_FACTOR)

        def prop(value):
            fuzzer.check(send_one(fuzzer, key, value))

        findings = search(strategy, prop, examples=examples, seed=seed)
        _report(findings, fuzzer, client, seed)
        return fuzzer

    return go


def _report(findings, fuzzer, client, seed):
    """Own-requirement findings fail the test; the other FUZ id's go to the observer."""
    own = [f for f in findings if not isinstance(f, HangFinding)]
    for finding in findings:
        if isinstance(finding, HangFinding):
            current = observer.current()
            if current is not None:
                current.add("FUZ-2", [describe_finding(finding, client, seed)], finding.exchange, lead=True)
    if own:
        cite(*(f.exchange for f in own))
        pytest.fail(describe_finding(own[0], client, seed), pytrace=False)
    if fuzzer.budget_error is not None:
        raise BudgetExhausted(f"{fuzzer.budget_error}: fuzzing stopped after {fuzzer.sent} requests, incomplete")


@pytest.mark.requirement("FUZ-1")
def test_fuzz_openapi(openapi_operation, fuzz, profile, run):
    from schemathesis import GenerationMode

    op = operation(profile, openapi_operation)
    modes = [op.as_strategy(generation_mode=GenerationMode.NEGATIVE)]
    # A schema-valid request to a billable route is a billable success: only where spending is allowed.
    if run.billable_allowed or openapi_operation.startswith("GET "):
        modes.insert(0, op.as_strategy(generation_mode=GenerationMode.POSITIVE))

    unbillable_model = None if run.billable_allowed else NO_SUCH_MODEL

    def send_one(fuzzer, key, case):
        method, path, headers, body, params = request_of(case, unbillable_model=unbillable_model)
        return fuzzer.send(method, path, authorization=f"Bearer {key}", headers=headers, content=body, params=params)

    fuzz(st.one_of(*modes), send_one)


@pytest.mark.requirement("FUZ-1")
def test_fuzz_authorization_header(fuzz, need_role):
    key = need_role("valid")["api_key"]

    def send_one(fuzzer, _key, value):
        return fuzzer.send("GET", "/v1/models", authorization=value)

    fuzz(authorization_values(key), send_one)


@pytest.mark.requirement("FUZ-1")
def test_fuzz_raw_body(fuzz):
    def send_one(fuzzer, key, value):
        content_type, body = value
        headers = {"content-type": content_type} if content_type is not None else {}
        return fuzzer.send("POST", "/v1/chat/completions", authorization=f"Bearer {key}", headers=headers, content=body)

    fuzz(raw_bodies(), send_one)


@pytest.mark.requirement("FUZ-1")
def test_fuzz_query_and_path(fuzz):
    def send_one(fuzzer, key, value):
        method, path, params = value
        return fuzzer.send(method, path, authorization=f"Bearer {key}", params=params)

    fuzz(query_and_paths(), send_one)


@pytest.mark.requirement("FUZ-2")
def test_oversized_requests_answered_in_time(client, profile, need_role, rule):
    """Fixed probes (each already minimal); any fuzz test's hang also lands here via the observer."""
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
        except Exception as finding:  # FUZ-1 territory: filed there by the observer / fuzz tests
            current = observer.current()
            if current is not None and hasattr(finding, "problems"):
                current.add("FUZ-1", [f"{name}: {finding.problems[0]}"], exchange)
    if hangs:
        cite(*(f.exchange for _, f in hangs))
        name, first = hangs[0]
        pytest.fail(f"{name}: {describe_finding(first, client, None)}" + rule, pytrace=False)


@pytest.mark.requirement("FUZ-3")
def test_fuzzed_rejections_not_charged(run, client, book, profile, target_config, need_role, rule):
    """One spend snapshot of the fuzzing role before and after a fuzz run of its own.

    A fuzzed request that happens to be valid is legitimately charged: the spend may grow by
    exactly what the 2xx answers cost (looked up by request id), never by more. The fuzz run is
    the test's own, so it holds under xdist; a concurrent test charging the same key is told
    apart by looking up the rejected requests one by one.
    """
    need_role("valid")
    oracle = SpendReader(client, target_config)
    reason = oracle.unavailable_reason()
    if reason:
        inconclusive(reason)
    if run.fuzz_examples == 0:
        pytest.skip("fuzzing is switched off (--fuzz-examples 0)")
    # CHG-0's control first: a spend view that does not show a billable success cannot show a
    # charged rejection either, and an unmoved view would pass this test for nothing.
    control = run_control(BillingOracle(client, target_config), book, target_config, run.billable_allowed)
    if control.exchange is not None:
        cite(control.exchange)
    if not control.views:
        inconclusive(f"CHG-0 control: {control.unavailable}")
    views = control.spend_views()
    if not views:
        inconclusive(f"CHG-0 control: neither billing.key_spend nor billing.balance showed a billable success "
                     f"(only {', '.join(control.views)} did), so a snapshot could not show a charge")
    oracle = SpendReader(client, target_config, view=views[0])
    from schemathesis import GenerationMode

    roles = ["valid"]
    try:
        before = oracle.snapshot(roles)
    except OracleUnavailable as exc:
        inconclusive(str(exc))
    key = target_config.role("valid")["api_key"]
    fuzzer = Fuzzer(client, profile, label="fuzz:charges", max_sends=run.fuzz_examples)
    op = operation(profile, "POST /v1/chat/completions")
    strategy = st.one_of(op.as_strategy(generation_mode=GenerationMode.NEGATIVE), raw_bodies().map(lambda v: ("raw", v)))

    def prop(value):
        if isinstance(value, tuple) and value[0] == "raw":
            content_type, body = value[1]
            fuzzer.send("POST", "/v1/chat/completions", authorization=f"Bearer {key}",
                        headers={"content-type": content_type} if content_type else {}, content=body)
            return
        method, path, headers, body, params = request_of(value)
        fuzzer.send(method, path, authorization=f"Bearer {key}", headers=headers, content=body, params=params)

    search(strategy, prop, examples=run.fuzz_examples, seed=seed_for("fuzz-charges", run.fuzz_seed))
    time.sleep(float((target_config.section("billing") or {}).get("settle_s", 0) or 0))
    try:
        after = oracle.snapshot(roles)
        successes = [e for e in fuzzer.exchanges if e.status is not None and e.status < 300]
        expected = 0.0
        for exchange in successes:
            cost = oracle.request_cost(exchange.header(profile.request_id_header) or "")
            if cost is None:
                inconclusive(f"{exchange.describe()}: a fuzzed request succeeded and the config has no request_cost lookup to price it")
            expected += cost
    except OracleUnavailable as exc:
        inconclusive(str(exc))
    rejected = [e for e in fuzzer.exchanges if e.status is not None and e.status >= 400]
    delta = after["valid"] - before["valid"]
    if abs(delta - expected) < 1e-9:
        if not rejected:
            inconclusive("no fuzzed request was rejected: nothing to check")
        return
    charged = []
    for exchange in rejected:
        request_id = exchange.header(profile.request_id_header)
        try:
            cost = oracle.request_cost(request_id) if request_id else None
        except OracleUnavailable:
            cost = None
        if cost:
            charged.append(exchange)
    if charged:
        cite(*charged[:3])
        pytest.fail(f"{len(charged)} of {len(rejected)} rejected fuzz requests were charged "
                    f"(spend +{delta:g}, successes account for {expected:g}); first: {charged[0].describe()}" + rule,
                    pytrace=False)
    if not oracle.prices_requests or delta < expected:
        cite(*rejected[:3])
        pytest.fail(f"spend of role 'valid' moved by {delta:g} during the fuzz run; its {len(successes)} successes "
                    f"account for {expected:g} ({len(rejected)} requests were rejected)" + rule, pytrace=False)
    inconclusive(f"spend moved by {delta - expected:g} more than the fuzz successes cost, but no rejected fuzz request "
                 "shows a charge: another test probably charged the same key meanwhile")
