"""FUZ-3: fuzzed requests the gateway rejects are never billed.

One spend snapshot of the `fuzzing` role (else `valid`) before and after a fuzz run of its own; the spend may grow
by exactly what the run's successes cost (looked up by request id), never by more.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import pytest
from hypothesis import strategies as st

from conformance.billing.control import run_control
from conformance.billing.oracle import BillingOracle
from conformance.billing.spend import OracleUnavailable, SpendReader
from conformance.contract.profiles import Profile
from conformance.contract.target_config import TargetConfig
from conformance.fuzzing.draw_ahead import Draw
from conformance.fuzzing.engine import Fuzzer, gathered_search, raw_bodies, seed_for
from conformance.fuzzing.openapi import DrawnCase, operation, request_of
from conformance.outcomes import cite, inconclusive
from conformance.scenarios.inference import ScenarioBook
from conformance.transport.client import GatewayClient

# An optional role of its own (a working key like `valid`'s): no other test charges it while the
# fuzz run is between its two snapshots, so the check holds under xdist; without it, `valid`.
FUZZ_ROLE = "fuzzing"


SEED_NAME = "fuzz-charges"  # seeds the search (`engine.seed_for`) unless --hypothesis-seed does


def rejection_strategy(profile: Profile) -> st.SearchStrategy[Any]:
    """What FUZ-3 sends to the chat route: schema-breaking cases, and raw bodies ("raw", value)."""
    from schemathesis import GenerationMode

    op = operation(profile, "POST /v1/chat/completions")
    return st.one_of(op.as_strategy(generation_mode=GenerationMode.NEGATIVE), raw_bodies().map(lambda v: ("raw", v)))


def rejection_strategy_key(profile: Profile) -> tuple[str, ...]:
    """What decides `rejection_strategy`'s draws besides the seed: its key in `draw_memo`."""
    return ("fuzz-charges", str(profile.path), profile.envelope_schema)


def rejection_draw(profile: Profile, *, examples: int, seed: int | None) -> Draw:
    """FUZ-3's search, for `draw_ahead`."""
    return Draw(rejection_strategy_key(profile), partial(rejection_strategy, profile), seed_for(SEED_NAME, seed),
                examples, _portable)


def _portable(value: Any) -> Any:
    return value if isinstance(value, tuple) else DrawnCase(value)


def fuzzed_rejection_charges(client: GatewayClient, profile: Profile, target_config: TargetConfig, *,
                             examples: int, seed: int | None, book: ScenarioBook, billable_allowed: bool) -> list[str]:
    """Fuzz the chat route with the `valid` key and say how rejected requests were charged.

    A fuzzed request that happens to be valid is legitimately charged: the spend may grow by
    exactly what the 2xx answers cost (looked up by request id), never by more. The fuzz run is
    the test's own, so it holds under xdist; a concurrent test charging the same key is told
    apart by looking up the rejected requests one by one.
    """
    oracle = SpendReader(client, target_config)
    reason = oracle.unavailable_reason()
    if reason:
        inconclusive(reason)
    if examples == 0:
        pytest.skip("fuzzing is switched off (--fuzz-examples 0)")
    # CHG-0's control first: a spend view that does not show a billable success cannot show a
    # charged rejection either, and an unmoved view would pass this test for nothing.
    control = run_control(BillingOracle(client, target_config), book, target_config, billable_allowed)
    if control.exchange is not None:
        cite(control.exchange)
    control.live()
    views = control.spend_views()
    if not views:
        inconclusive(f"CHG-0 control: neither billing.key_spend nor billing.balance showed a billable success "
                     f"(only {', '.join(control.views)} did), so a snapshot could not show a charge")
    oracle = SpendReader(client, target_config, view=views[0])
    role = FUZZ_ROLE if target_config.role(FUZZ_ROLE) is not None else "valid"
    roles = [role]
    try:
        before = oracle.snapshot(roles)
    except OracleUnavailable as exc:
        inconclusive(str(exc))
    role_config = target_config.role(role)
    if role_config is None:  # FUZ-3 asks need_role("valid") first: only another caller gets here
        pytest.skip(target_config.missing_role_reason(role))
    key = role_config["api_key"]
    fuzzer = Fuzzer(client, profile, label="fuzz:charges", max_sends=examples)

    def prop(value):
        if isinstance(value, tuple) and value[0] == "raw":
            content_type, body = value[1]
            fuzzer.send("POST", "/v1/chat/completions", authorization=f"Bearer {key}",
                        headers={"content-type": content_type} if content_type else {}, content=body)
            return
        method, path, headers, body, params = request_of(value)
        fuzzer.send(method, path, authorization=f"Bearer {key}", headers=headers, content=body, params=params)

    gathered_search(fuzzer, partial(rejection_strategy, profile), prop, examples=examples, seed=seed_for(SEED_NAME, seed),
                    judged=False, stop=fuzzer.out_of_budget, drawn_as=rejection_strategy_key(profile))
    if fuzzer.budget_error is not None:  # fewer examples than asked: the judgement would claim too much
        raise fuzzer.budget_error
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
    delta = after[role] - before[role]
    if abs(delta - expected) < 1e-9:
        if not rejected:
            inconclusive("no fuzzed request was rejected: nothing to check")
        return []
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
        return [f"{len(charged)} of {len(rejected)} rejected fuzz requests were charged "
                f"(spend +{delta:g}, successes account for {expected:g}); first: {charged[0].describe()}"]
    if not oracle.prices_requests or delta < expected:
        cite(*rejected[:3])
        return [f"spend of role '{role}' moved by {delta:g} during the fuzz run; its {len(successes)} successes "
                f"account for {expected:g} ({len(rejected)} requests were rejected)"]
    inconclusive(f"spend moved by {delta - expected:g} more than the fuzz successes cost, but no rejected fuzz request "
                 "shows a charge: another test probably charged the same key meanwhile")
    return []  # not reached: inconclusive raises
