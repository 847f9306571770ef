"""CHG-0..6, HDR-4, RTY-1..3 can fail, and cannot pass without a billing oracle or permission to bill.

That each defect of issue 5 fails exactly the requirements it kills is the kill matrix's job
(tests/test_kill_matrix.py). Here: a target config without `billing`,
or a real target without --allow-billable, must leave every CHG requirement inconclusive (never
passed) and the verdict incomplete — and in the second case the target must not be billed at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conformance.checks.retry import dont_retry_problems, retry_after_s, retry_problems, rule_for
from conformance.contract.profiles import load_profile
from conformance.reference.gateway_process import ReferenceProcess
from conformance.transport.client import Exchange

CHG = ["CHG-0", "CHG-1", "CHG-2", "CHG-3", "CHG-4", "CHG-5"]

def _standalone_config(tmp_path: Path, process: ReferenceProcess, **changes: Any) -> Path:
    config = yaml.safe_load(process.config_path.read_text())
    for name, value in changes.items():
        if value is None:
            config.pop(name, None)
        else:
            config[name] = value
    copy = tmp_path / "target-copy.yaml"
    copy.write_text(yaml.safe_dump(config))
    return copy


def _spends(config: dict[str, Any]) -> dict[str, float]:
    admin = config["billing"]["api_key"]
    out = {}
    with httpx.Client(trust_env=False) as http:
        for role, facts in config["roles"].items():
            url = config["billing"]["key_spend"]["url"].replace("{key_id}", facts["key_id"])
            out[role] = http.get(url, headers={"authorization": f"Bearer {admin}"}).json()["spend"]
    return out


def _assert_chg_inconclusive(run, needle: str) -> None:
    """Never a pass. Where a CHG requirement is the contract's MUST the verdict is `incomplete`;
    where the contract is silent (pyai: practice) the verdict is the contract's, and the practice
    grade shows the CHG requirements not kept."""
    from conformance.contract.requirements import registry

    contract_musts = [r for r in CHG if registry()[r].basis(run.report["profile"]["id"]).level == "MUST"
                      and not registry()[r].basis(run.report["profile"]["id"]).is_practice]
    if contract_musts:
        assert run.verdict == "incomplete", run.output[-3000:]
    else:
        assert run.verdict != "non-conformant", run.output[-3000:]
        assert run.report["practice"]["kept"] < run.report["practice"]["total"], run.report["practice"]
    for requirement in CHG:
        row = next(r for r in run.report["requirements"] if r["id"] == requirement)
        assert row["status"] == "inconclusive", row
        assert needle in row["reason"], row


def test_without_billing_section_chg_is_inconclusive(suite, tmp_path):
    with ReferenceProcess("pyai") as process:
        copy = _standalone_config(tmp_path, process, billing=None)
        run = suite("--target", process.url, "--target-config", str(copy))
    # pyai has no "not charged" sentence: its CHG rows are practice, so inconclusive ones leave the
    # contract's verdict alone (the practice grade reports them).
    _assert_chg_inconclusive(run, "section 'billing' is missing")
    with ReferenceProcess("mindproxy") as process:  # "… are not charged": contract MUSTs there
        copy = _standalone_config(tmp_path, process, billing=None)
        run = suite("--target", process.url, "--target-config", str(copy))
    _assert_chg_inconclusive(run, "section 'billing' is missing")


def test_real_target_without_allow_billable_is_never_billed(suite, tmp_path):
    with ReferenceProcess("pyai") as process:
        config = yaml.safe_load(process.config_path.read_text())
        copy = _standalone_config(tmp_path, process, limits={**config["limits"], "allow_billable": False})
        before = _spends(config)
        run = suite("--target", process.url, "--target-config", str(copy))
        after = _spends(config)
    _assert_chg_inconclusive(run, "--allow-billable")
    assert before == after, "a target was billed although --allow-billable was not given"


# --- the pure rules -------------------------------------------------------------------------------

def _exchange(status: int, **headers: str) -> Exchange:
    return Exchange("POST", "http://gw.example/v1/chat/completions", {}, None, status=status,
                    headers=httpx.Headers(headers))


def test_dont_retry_signals_are_named():
    assert dont_retry_problems(_exchange(402)) == []
    problems = dont_retry_problems(_exchange(429, **{"Retry-After": "3", "x-should-retry": "true"}))
    assert len(problems) == 3 and "429" in str(problems[0])


def test_retry_signals_need_status_and_wait():
    assert retry_problems(_exchange(429, **{"Retry-After": "2"})) == []
    assert len(retry_problems(_exchange(402))) == 2
    assert retry_after_s(_exchange(429, **{"retry-after-ms": "1500", "Retry-After": "9"})) == 1.5


def test_rule_for_falls_back_to_open_statuses():
    pyai = load_profile("pyai")
    assert rule_for(pyai, "rate_limit_exceeded", 429) == "backoff"
    assert rule_for(pyai, None, 404) == "never"
    assert rule_for(load_profile("mindproxy"), None, 503) == "backoff"


def test_sdk_code_attribute_follows_the_code_pointer():
    pytest.importorskip("openai")
    from conformance.transport.sdk import expected_exception, exposed_code

    class Error:
        code, type, body = "c", "t", {"code": "c", "type": "t"}

    assert exposed_code(Error(), load_profile("pyai")) == ("e.code", "c")
    assert exposed_code(Error(), load_profile("mindproxy")) == ("e.type", "t")
    import openai

    assert expected_exception(402) is openai.APIStatusError
    assert expected_exception(429) is openai.RateLimitError


def test_realtime_decision_judges_wait_reset():
    """A `wait_reset` code is not excused wholesale: a retry on the SDK's own back-off despite a
    Retry-After (one of 0) is a problem; a retry after a server-directed wait, no retry at all, or
    a retry where the cap named no wait (Retry-After is optional on it) is not."""
    from dataclasses import replace

    from conformance.checks.sdk_retry import realtime_decision_problems

    wait_code = load_profile("pyai").code("concurrency_limit_exceeded")
    reset = replace(wait_code, retry="wait_reset")
    bare, directed = _exchange(429), _exchange(429, **{"Retry-After": "30"})
    zero = _exchange(429, **{"Retry-After": "0"})
    # A directed wait of 0 leaves the SDK on its own back-off, before the cap resets: a problem.
    assert realtime_decision_problems(reset, zero, True, 0.5)
    # No Retry-After at all is allowed on a cap (RFC 6585 §4 "MAY"): the SDK's own back-off is
    # then all a client can do, not the gateway's fault.
    assert realtime_decision_problems(reset, bare, True, 0.5) == []
    assert realtime_decision_problems(reset, directed, True, 30.0) == []
    assert realtime_decision_problems(reset, bare, False, 0.0) == []
    assert realtime_decision_problems(wait_code, bare, False, 0.0)
    assert realtime_decision_problems(replace(wait_code, retry="unstated"), bare, True, 0.5) == []


def test_unstated_rule_asks_for_no_retry_signal():
    """pyai's insufficient_quota says only "Upgrade the plan.": neither RTY-1 nor RTY-2 judges it."""
    code = load_profile("pyai").code("insufficient_quota")
    assert code.retry == "unstated" and not code.promises_retry


def test_cut_stream_tolerance():
    """CHG-5 asks only "no more than delivered, within the documented tolerance": a gateway that
    bills a few tokens the upstream generated after the cut passes, one that bills the whole
    completion fails. Prompt 7 tokens, 16 completion tokens, 1 token per event, price 1 per token."""
    from conformance.billing.cut_stream import TOLERANCE_SHARE, allowed_cost

    full, one = 7 + 16, 7 + 1
    limit = allowed_cost(1, 16, full, one)
    assert limit == one + TOLERANCE_SHARE * 15
    assert 7 + 1 + 4 <= limit < full  # four tokens billed after the cut: fine; the whole stream: not
    assert allowed_cost(16, 16, full, one) == full


def test_routing_and_param_probes_cost_nothing_without_allow_billable(suite, tmp_path):
    """A gateway that routes /v1/v1/chat/completions (as LiteLLM routes lenient paths) is still
    caught by MAP-8 without --allow-billable, and is never billed for the probe: the path
    scenarios send a body nobody can serve, and the bad-params scenarios a lenient gateway could
    serve are skipped naming --allow-billable."""
    with ReferenceProcess("mindproxy", defects=["doubled_v1_served"]) as process:
        config = yaml.safe_load(process.config_path.read_text())
        copy = _standalone_config(tmp_path, process, limits={**config["limits"], "allow_billable": False})
        before = _spends(config)
        run = suite("--target", process.url, "--target-config", str(copy), "-k",
                    "test_v1_mistake_not_served or test_bad_params_rejected")
        after = _spends(config)
    assert before == after, "a routing or parameter probe was billed without --allow-billable"
    rows = {r["id"]: r for r in run.report["requirements"]}
    assert rows["MAP-8"]["status"] == "failed", rows["MAP-8"]
    # The three servable bad-params cases are not sent, and the report says why (never a pass).
    assert rows["MAP-5"]["status"] == "skipped" and "--allow-billable" in rows["MAP-5"]["reason"], rows["MAP-5"]
