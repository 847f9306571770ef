"""MAP-1..6: the status-code ↔ error-code table, produced by the roles that trigger each code."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from conformance import checks
from conformance.contract.profiles import resolve_pointer
from conformance.outcomes import cite, inconclusive
from conformance.transport.client import Exchange
from conformance.transport.gather import run_lanes


def _code(exchange, profile):
    found, code = checks.code_of(exchange, profile)
    return code if found else "(none)"


def _refused_code(exchange, profile) -> str | None:
    """For a request that should be served: None when it was, else the code it was refused with
    (cited either way; no answer at all fails)."""
    cite(exchange)
    if exchange.status is None:
        pytest.fail(f"{exchange.describe()}: the target did not answer")
    return None if exchange.status < 400 else _code(exchange, profile)


def _expect(exchange, profile, status: int, code: str | None, rule_suffix: str) -> None:
    actual = _code(exchange, profile)
    assert exchange.status == status and (code is None or actual == code), (
        f"{exchange.describe()}: expected {status}"
        + (f" with code {code!r}" if code else "")
        + f", got {exchange.status} with code {actual!r}"
        + rule_suffix
    )


@pytest.mark.requirement("MAP-1")
def test_no_credentials_unauthorized(scenario, profile, rule_suffix):
    """No credentials -> 401 with the unauthorized code."""
    _expect(scenario("no_credentials"), profile, 401, profile.unauthorized_code, rule_suffix)


@pytest.mark.requirement("MAP-2")
def test_bad_key_unauthorized(auth_scenario, scenario, profile, rule_suffix):
    """An unknown, malformed or wrong-scheme key -> 401 with the unauthorized code."""
    _expect(scenario(auth_scenario), profile, 401, profile.unauthorized_code, rule_suffix)


@pytest.mark.requirement("MAP-3")
def test_code_produced(catalogued_code, scenario, profile, rule_suffix):
    """Each catalogued code is produced, with its status, by the role that triggers it"""
    code = profile.code(catalogued_code)
    assert code is not None
    name = "no_credentials" if code.trigger == "no_credentials" else code.code
    _expect(scenario(name), profile, code.status, code.code, rule_suffix)


@pytest.mark.requirement("MAP-4")
def test_unknown_path_not_found(path_scenario, scenario, profile, rule_suffix, no_problems):
    """An unknown path (one no API defines, e.g. /v1/does-not-exist) -> 404 with a valid envelope. A doubled /v1 is MAP-8; a missing /v1 may be served."""
    exchange = scenario(path_scenario)
    assert exchange.status == 404, f"{exchange.describe()}: expected 404 for an unknown path" + rule_suffix
    problems = checks.envelope_problems(exchange, profile)
    no_problems(problems)


@pytest.mark.requirement("MAP-8")
def test_v1_mistake_not_served(v1_scenario, scenario, profile, rule_suffix, no_problems):
    """A doubled /v1 (/v1/v1/chat/completions) - and, where the profile makes /v1 strict (paths.v1_prefix_strict), a missing one - is not served: 404 with a valid envelope.

    A base URL with /v1 once too often (or, where the profile makes /v1 strict, missing) is not
    served as if it were right: 404 with the envelope tells the client its base URL is wrong."""
    exchange = scenario(v1_scenario)
    assert exchange.status == 404, (f"{exchange.describe()}: expected 404, so a client with one /v1 too many "
                                    "in its base URL sees it" + rule_suffix)
    no_problems(checks.envelope_problems(exchange, profile))


# Statuses RFC 9110 gives a request the server will not process as sent: 400 (§15.5.1) and 422
# (§15.5.21, what FastAPI / pydantic answer). The SDKs raise BadRequestError /
# UnprocessableEntityError for them and never retry either.
BAD_REQUEST_STATUSES = (400, 422)


@pytest.mark.requirement("MAP-5")
def test_bad_params_rejected(params_scenario, scenario, book, profile, rule_suffix, no_problems):
    """Invalid parameters -> a 4xx with a valid envelope, naming the offending param only where the profile says the envelope does (envelope.param_names_offender). Which 4xx is MAP-7.

    The contract's part: invalid parameters are rejected (a 4xx: mindproxy's "bad params" are
    "rejected before processing"; a 5xx would be its "Temporary service error") with the envelope,
    naming `param` only where the profile says the envelope does. Which 4xx is MAP-7 (practice)."""
    exchange = scenario(params_scenario)
    assert exchange.status is not None and 400 <= exchange.status <= 499, (
        f"{exchange.describe()}: expected a 4xx rejection for invalid parameters" + rule_suffix)
    problems = checks.envelope_problems(exchange, profile)
    no_problems(problems)
    expected = book.scenarios[params_scenario].param
    if expected and profile.param_pointer and profile.param_names_offender:
        _found, param = resolve_pointer(checks.envelope(exchange), profile.param_pointer)
        named = isinstance(param, str) and (param == expected or param.startswith(expected + ".")
                                            or param.startswith(expected + "["))
        assert named, (
            f"{exchange.describe()}: {profile.param_pointer} is {param!r}, expected it to name {expected!r}" + rule_suffix
        )


@pytest.mark.requirement("MAP-7")
def test_bad_params_status(params_scenario, scenario, rule_suffix):
    """Invalid parameters are answered 400 or 422 (not another 4xx).

    Practice: the 4xx for invalid parameters is 400 or 422, the statuses whose meaning is "this
    request cannot be processed as sent"; another 4xx (404, 409, 413, ...) misleads the client
    about what to fix, and 408 / 409 make the SDK retry it."""
    exchange = scenario(params_scenario)
    assert exchange.status in BAD_REQUEST_STATUSES, (
        f"{exchange.describe()}: expected 400 or 422 for invalid parameters, got {exchange.status}" + rule_suffix)


@pytest.mark.requirement("MAP-6")
def test_auth_checked_before_body(scenario, profile, rule_suffix):
    """Authentication is checked before the body: no key plus a malformed body -> 401, not 400."""
    _expect(scenario("no_credentials_malformed_body"), profile, 401, profile.unauthorized_code, rule_suffix)


@pytest.mark.requirement("MAP-3")
def test_disabled_key_unauthorized(scenario, profile, rule_suffix):
    """a disabled key gets the unauthorized code

    A disabled (revoked) key → 401 with the unauthorized code, at MUST level.

    MAP-3, not MAP-2: MAP-2's keys are ones the suite makes up itself (unknown, malformed, wrong
    scheme), so MAP-2 runs on every target with no config at all; a disabled key is a state only
    the gateway's operator can create — a credential role (`disabled`) — and MAP-3 is the
    requirement whose tests are produced by roles and skipped naming a missing one. mindproxy puts
    it in the unauthorized row itself ("check … that the key is correct / not disabled"); pyai's
    "Missing or invalid API key" covers a key that no longer works. SEC-2 (SHOULD) compares this
    answer with the unknown key's; this test asks the contract's status and code of it.
    """
    code = profile.code(profile.unauthorized_code)
    says = f"\n  contract: {code.status} {code.code} — {code.meaning}. {code.action}".rstrip(". ") if code else ""
    _expect(scenario("disabled_key"), profile, 401, profile.unauthorized_code, says + rule_suffix)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "origin_code" in metafunc.fixturenames:
        from conformance.suite.conftest import collection_profile, parametrize_cases

        codes = [c.code for c in collection_profile(metafunc.config).codes if c.trigger == "disallowed_origin"]
        parametrize_cases(metafunc, "origin_code", codes, "the profile catalogues no origin refusal")


@pytest.mark.requirement("MAP-3")
def test_allowed_origin_served(origin_code, book, scenario, profile, billable, rule_suffix):
    """a publishable token is served from its allowed origin

    The positive control of the origin refusal: the same publishable token, from its allowed
    origin, is served. Without it a gateway that refuses publishable tokens from every origin
    passes `test_code_produced[origin_not_allowed]`, though the code then means nothing.

    Fails only on a refusal that is about the origin or the token (the origin code, 401, 403);
    another error (no credit, a rate limit, a 5xx) says nothing about origins and is inconclusive.
    One billable request (the publishable token's chat completion, max_tokens 1).
    """
    code = profile.code(origin_code)
    assert code is not None and code.role is not None
    role = book.config.role(code.role)
    if role is None:
        pytest.skip(book.config.missing_role_reason(code.role))
    allowed = role.get("allowed_origin")
    if not allowed:
        pytest.skip(f"role '{code.role}' has no allowed_origin in the target config")
    exchange = _allowed_origin(book, role)  # gathered ahead, or sent here
    actual = _refused_code(exchange, profile)
    if actual is None:
        return
    assert actual != origin_code and exchange.status not in (401, 403), (
        f"{exchange.describe()}: the publishable token was refused from its allowed origin {allowed!r} with "
        f"{exchange.status} {actual!r}: the origin allow-list refuses every origin" + rule_suffix
    )
    inconclusive(f"{exchange.describe()}: the allowed-origin request got {exchange.status} {actual!r}, "
                 "an error that is not about origins, so the allow-list could not be seen to admit it")


@pytest.mark.requirement("MAP-9")
def test_test_key_served_without_credit(book, profile, need_role, rule_suffix):
    """A pyai_test_ key of an org that is out of prepaid credit is served (not refused with the no-credit code): the role test_key.

    pyai's answer to an org out of credit is "Add credit (or use a pyai_test_ key)": a test key
    of that org is served where its live keys get the no-credit code. The role `test_key` is such
    a key (the target config names it); without it the test is skipped naming the role. A test key
    costs nothing, so no --allow-billable is needed.
    """
    role = need_role("test_key")
    credit = next((c for c in profile.codes if c.role == "no_credit"), None)
    exchange = _test_key(book, role)  # gathered ahead, or sent here
    actual = _refused_code(exchange, profile)
    if actual is None:
        return
    refused_for_credit = exchange.status == 402 or (credit is not None and actual == credit.code)
    assert not refused_for_credit, (
        f"{exchange.describe()}: the test key was refused with {exchange.status} {actual!r} for credit; "
        f"the contract offers a test key as the way on when the org is out of credit" + rule_suffix)
    inconclusive(f"{exchange.describe()}: the test key got {exchange.status} {actual!r}, an error that is not about "
                 "credit, so it could not be seen to be served")


def _allowed_origin(book, role: dict[str, Any]) -> Exchange:
    """MAP-3's positive control: the publishable token from its allowed origin, sent once."""
    return book.once(("MAP-3", "allowed-origin", role["api_key"]), lambda: book.chat(
        role["api_key"], headers={"origin": role["allowed_origin"]}, label="publishable:allowed-origin"))


def _test_key(book, role: dict[str, Any]) -> Exchange:
    """MAP-9's request with the test key, sent once."""
    return book.once(("MAP-9", "test-key"), lambda: book.chat(role["api_key"], label="test-key:out-of-credit"))


def gather_ahead(request: pytest.FixtureRequest) -> None:
    """Send the single requests MAP-3's origin control and MAP-9 make in the background (called by
    conftest's `_gather_ahead` once no test that reads a key's spend is left before this module):
    each depends on nothing the tests in between do."""
    book, profile = request.getfixturevalue("book"), request.getfixturevalue("profile")
    run_context, config = request.getfixturevalue("run_context"), request.getfixturevalue("target_config")
    names = {getattr(item, "originalname", None) for item in request.session.items}
    calls = []
    if "test_allowed_origin_served" in names and run_context.billable_allowed:
        for code in profile.codes:
            role = config.role(code.role) if code.trigger == "disallowed_origin" and code.role else None
            if role is not None and role.get("allowed_origin"):
                calls.append(functools.partial(_allowed_origin, book, role))
    test_key = config.role("test_key")
    if "test_test_key_served_without_credit" in names and test_key is not None:
        calls.append(functools.partial(_test_key, book, test_key))
    if calls:
        book.client.gather_ahead("mapping", lambda stop: run_lanes([[call] for call in calls], book.client.concurrency,
                                                                   stop_when=stop))
