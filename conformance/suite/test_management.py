"""PRB-1..3: management routes answer RFC 9457 problem+json, inference routes never do.

The failing requests come from the target config's `management` section (each with the status it
must fail with); each is sent once per session and judged by all three requirements.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance import checks
from conformance.checks import problem_json as problems
from conformance.transport.client import Exchange, GatewayClient
from conformance.contract.target_config import TargetConfig
from conformance.outcomes import cite
from conformance.scenarios.scenario import ScenarioUnavailable

# Inference answers PRB-3 looks at, sent by the scenario book anyway (cheap, shared).
INFERENCE_SCENARIOS = ("no_credentials", "unknown_path", "invalid_json")


@pytest.fixture(scope="session")
def management_answers(client: GatewayClient, target_config: TargetConfig) -> list[tuple[dict[str, Any], Exchange]]:
    """(failing request as configured, its exchange), each sent once; skips naming what is missing."""
    section = target_config.section("management")
    if section is None:
        pytest.skip(target_config.missing_section_reason("management"))
    requests = section.get("failing_requests") or []
    if not requests:
        pytest.skip("section 'management' lists no failing_requests in the target config")
    role_name = section.get("role") or "valid"
    role = target_config.role(role_name)
    if role is None:
        pytest.skip(target_config.missing_role_reason(role_name))
    base = section["base_url"].rstrip("/")
    answers = []
    for spec in requests:
        kwargs: dict[str, Any] = {"headers": spec.get("headers")}
        if "body" in spec:
            kwargs["json"] = spec["body"]
        exchange = client.request(spec["method"], base + spec["path"], api_key=role["api_key"],
                                  label="management", **kwargs)
        answers.append((spec, exchange))
    return answers


def _answers(management_answers: list[tuple[dict[str, Any], Exchange]]) -> list[tuple[dict[str, Any], Exchange]]:
    cite(*(exchange for _, exchange in management_answers))
    for spec, exchange in management_answers:
        if exchange.status is None:
            pytest.fail(f"{exchange.describe()}: the target did not answer")
    return management_answers


@pytest.mark.requirement("PRB-1")
def test_management_errors_are_problem_json(management_answers, profile, rule):
    found = []
    for spec, exchange in _answers(management_answers):
        if exchange.status != spec["status"]:
            found.append(f"{exchange.describe()}: expected the configured failing status {spec['status']}")
            continue
        found += problems.problem_document_problems(exchange, profile)
    assert not found, "; ".join(found) + rule


@pytest.mark.requirement("PRB-2")
def test_problem_status_matches_http_status(management_answers, profile, rule):
    readable = [e for _, e in _answers(management_answers) if checks.is_error(e) and problems.is_problem(e, profile)]
    if not readable:
        pytest.skip("no management answer is a problem document to read (reported under PRB-1)")
    found = [p for exchange in readable for p in problems.problem_status_problems(exchange)]
    assert not found, "; ".join(found) + rule


@pytest.mark.requirement("PRB-3")
def test_planes_keep_their_shapes(management_answers, book, client, profile, rule):
    found = [p for _, e in _answers(management_answers)
             for p in problems.plane_shape_problems(e, profile, management=True)]
    management = {id(e) for _, e in management_answers}
    inference = []
    for name in INFERENCE_SCENARIOS:
        try:
            exchange = book.get(name)
        except (KeyError, ScenarioUnavailable):
            continue
        cite(exchange)
        inference.append(exchange)
    inference += [e for e in list(client.exchanges) if id(e) not in management and "/v1/" in e.url]
    seen: set[int] = set()
    for exchange in inference:
        if id(exchange) not in seen:
            seen.add(id(exchange))
            found += problems.plane_shape_problems(exchange, profile, management=False)
    assert not found, "; ".join(found[:5]) + rule
