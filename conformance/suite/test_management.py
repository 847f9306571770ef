"""PRB-1..3: management routes answer RFC 9457 problem+json, inference routes never do.

The failing requests come from the target config's `management` section (each with the status it
must fail with); each is sent once per session and judged by all three requirements.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from conformance import checks
from conformance.checks import problem_json as problems
from conformance.contract.target_config import TargetConfig
from conformance.outcomes import cite, inconclusive, not_applicable
from conformance.scenarios.scenario import ScenarioUnavailable
from conformance.transport.client import Exchange, GatewayClient
from conformance.transport.gather import side_by_side

# Inference answers PRB-3 looks at, sent by the scenario book anyway (cheap, shared).
INFERENCE_SCENARIOS = ("no_credentials", "unknown_path", "invalid_json")


# What `gather_ahead` is sending in the background, and the event set once it has ended.
_AHEAD_ANSWERS = pytest.StashKey[tuple[list[Any], Any]]()


@pytest.fixture(scope="session")
def management_answers(request: pytest.FixtureRequest, client: GatewayClient,
                       target_config: TargetConfig) -> list[tuple[dict[str, Any], Exchange]]:
    """(failing request as configured, its exchange), each sent once (or gathered ahead: waited
    for); skips naming what is missing."""
    ahead = request.config.stash.get(_AHEAD_ANSWERS, None)
    if ahead is not None:
        ahead[1].wait()
        if ahead[0]:
            return ahead[0][0]
    return _answers_of(client, target_config)


def gather_ahead(request: pytest.FixtureRequest) -> None:
    """Send the configured failing management requests in the background (called by conftest's
    `_gather_ahead` once no test that reads a key's spend is left before this module): each fails on
    its own and changes nothing, so the tests in between cannot change its answer."""
    client, target_config = request.getfixturevalue("client"), request.getfixturevalue("target_config")
    done: list[Any] = []
    ended = client.gather_ahead("management", lambda stop: done.append(_answers_of(client, target_config)))
    request.config.stash[_AHEAD_ANSWERS] = (done, ended)


def _answers_of(client: GatewayClient, target_config: TargetConfig) -> list[tuple[dict[str, Any], Exchange]]:
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

    def send(spec: dict[str, Any]) -> Exchange:
        kwargs: dict[str, Any] = {"headers": spec.get("headers")}
        if "body" in spec:
            kwargs["json"] = spec["body"]
        return client.request(spec["method"], base + spec["path"], api_key=role["api_key"], label="management",
                              **kwargs)

    # Each a request that fails on its own (nothing it changes): side by side, kept in the config's order.
    exchanges = side_by_side([functools.partial(send, spec) for spec in requests], client.concurrency)
    return list(zip(requests, exchanges, strict=True))


def _config_problem(index: int, spec: dict[str, Any], exchange: Exchange, profile) -> str | None:
    """Why this configured failing request tells nothing about the gateway's management errors
    (the config's fault, named by its field), or None when its answer can be judged."""
    field = f"management.failing_requests[{index}]"
    if exchange.status is None:
        return f"{exchange.describe()}: no answer — check management.base_url in the target config"
    if exchange.status < 400:
        return f"{exchange.describe()}: {field} did not fail, so there is no error to judge — check it in the target config"
    if exchange.status == 404 and spec["status"] != 404 and not problems.is_problem(exchange, profile):
        return (f"{exchange.describe()}: {field}.path is not a management route of the target (404 without a "
                f"problem document) — check management.base_url and the path in the target config")
    return None


def _answers(
    management_answers: list[tuple[dict[str, Any], Exchange]], profile,
) -> tuple[list[tuple[dict[str, Any], Exchange]], list[str]]:
    """(the answers a PRB test may judge, the config problems). A wrong config (an unreachable host, a path the target does
    not serve, a request that does not fail) is the config's problem: the test is inconclusive,
    naming the field, unless a judged answer already fails on its own."""
    cite(*(exchange for _, exchange in management_answers))
    judged, config_problems = [], []
    for index, (spec, exchange) in enumerate(management_answers):
        problem = _config_problem(index, spec, exchange, profile)
        if problem:
            config_problems.append(problem)
        else:
            judged.append((spec, exchange))
    if any("is not a management route" in p for p in config_problems):
        # One configured request that must fail otherwise meets "no such route": management.base_url
        # is wrong, so even an answer with the configured status (a 404) is not the management plane's.
        judged = []
    if not judged:
        inconclusive(config_problems[0])
    return judged, config_problems


def _verdict(found: list[Any], config_problems: list[str], rule_suffix: str) -> None:
    assert not found, "; ".join(map(str, found[:5])) + rule_suffix
    if config_problems:
        inconclusive(config_problems[0])


@pytest.mark.requirement("PRB-1")
def test_management_errors_are_problem_json(management_answers, profile, rule_suffix):
    """Management-route errors are application/problem+json and validate against the RFC 9457 schema plus the profile's extra members (request_id)."""
    judged, config_problems = _answers(management_answers, profile)
    # The configured status only says which request fails; the contract's demand is the document.
    found = [p for _, exchange in judged for p in problems.problem_document_problems(exchange, profile)]
    _verdict(found, config_problems, rule_suffix)


@pytest.mark.requirement("PRB-2")
def test_problem_status_matches_http_status(management_answers, profile, rule_suffix):
    """The problem's status member, when present, equals the HTTP status (RFC 9457 makes it optional)."""
    judged, config_problems = _answers(management_answers, profile)
    readable = [e for _, e in judged if checks.is_error(e) and problems.is_problem(e, profile)]
    if not readable:
        not_applicable("no management answer is a problem document to read (reported under PRB-1)")
    found = [p for exchange in readable for p in problems.problem_status_problems(exchange)]
    _verdict(found, config_problems, rule_suffix)


@pytest.mark.requirement("PRB-3")
def test_planes_keep_their_shapes(management_answers, book, client, profile, rule_suffix):
    """Inference routes never answer problem+json, management routes never answer the inference envelope."""
    judged, config_problems = _answers(management_answers, profile)
    found = [p for _, e in judged for p in problems.plane_shape_problems(e, profile, management=True)]
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
    _verdict(found, config_problems, rule_suffix)
