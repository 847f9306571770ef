"""MAP-1..6: the status-code ↔ error-code table, produced by the roles that trigger each code."""

from __future__ import annotations

import pytest

from conformance import checks
from conformance.contract.profiles import resolve_pointer


def _code(exchange, profile):
    found, code = checks.code_of(exchange, profile)
    return code if found else "(none)"


def _expect(exchange, profile, status: int, code: str | None, rule: str) -> None:
    actual = _code(exchange, profile)
    assert exchange.status == status and (code is None or actual == code), (
        f"{exchange.describe()}: expected {status}"
        + (f" with code {code!r}" if code else "")
        + f", got {exchange.status} with code {actual!r}"
        + rule
    )


@pytest.mark.requirement("MAP-1")
def test_no_credentials_unauthorized(scenario, profile, rule):
    _expect(scenario("no_credentials"), profile, 401, profile.unauthorized_code, rule)


@pytest.mark.requirement("MAP-2")
def test_bad_key_unauthorized(auth_scenario, scenario, profile, rule):
    _expect(scenario(auth_scenario), profile, 401, profile.unauthorized_code, rule)


@pytest.mark.requirement("MAP-3")
def test_code_produced(catalogued_code, scenario, profile, rule):
    code = profile.code(catalogued_code)
    assert code is not None
    name = "no_credentials" if code.trigger == "no_credentials" else code.code
    _expect(scenario(name), profile, code.status, code.code, rule)


@pytest.mark.requirement("MAP-4")
def test_unknown_path_not_found(path_scenario, scenario, profile, rule, no_problems):
    exchange = scenario(path_scenario)
    assert exchange.status == 404, f"{exchange.describe()}: expected 404 for an unknown path" + rule
    problems = checks.envelope_problems(exchange, profile)
    no_problems(problems)


@pytest.mark.requirement("MAP-5")
def test_bad_params_rejected(params_scenario, scenario, book, profile, rule, no_problems):
    exchange = scenario(params_scenario)
    assert exchange.status == 400, f"{exchange.describe()}: expected 400 for invalid parameters" + rule
    problems = checks.envelope_problems(exchange, profile)
    no_problems(problems)
    expected = book.scenarios[params_scenario].param
    if expected and profile.param_pointer:
        found, param = resolve_pointer(checks.envelope(exchange), profile.param_pointer)
        named = isinstance(param, str) and (param == expected or param.startswith(expected + ".")
                                            or param.startswith(expected + "["))
        assert named, (
            f"{exchange.describe()}: {profile.param_pointer} is {param!r}, expected it to name {expected!r}" + rule
        )


@pytest.mark.requirement("MAP-6")
def test_auth_checked_before_body(scenario, profile, rule):
    _expect(scenario("no_credentials_malformed_body"), profile, 401, profile.unauthorized_code, rule)
