"""ENV-1..5: every error on an inference route speaks the profile's envelope."""

from __future__ import annotations

import pytest

from conformance import checks
from conformance.outcomes import not_applicable


def _error_exchange(scenario, name: str):
    exchange = scenario(name)
    if not checks.is_error(exchange):
        not_applicable(f"{exchange.describe()}: not an error response, nothing to check here (see MAP-*)")
    return exchange


def _readable_error(scenario, name: str, profile):
    """The scenario's error response, when ENV-2..5 can read its envelope (else ENV-1 reports it)."""
    exchange = _error_exchange(scenario, name)
    if not checks.has_envelope_shape(exchange, profile):
        not_applicable(f"{exchange.describe()}: no envelope to read (reported under ENV-1)")
    return exchange


@pytest.mark.requirement("ENV-1")
def test_error_envelope_valid(error_scenario, scenario, profile, no_problems):
    """Every error response (status >= 400) on an inference route has a JSON body (application/json) that validates against the profile's envelope schema."""
    no_problems(checks.envelope_problems(_error_exchange(scenario, error_scenario), profile))


@pytest.mark.requirement("ENV-2")
def test_error_code_catalogued(error_scenario, scenario, profile, no_problems):
    """The code field holds a catalogued code, or - only for statuses the catalogue leaves open (e.g. 400 bad params, 404, 5xx) - any string / null as the profile allows."""
    no_problems(checks.code_problems(_readable_error(scenario, error_scenario, profile), profile))


@pytest.mark.requirement("ENV-3")
def test_status_matches_code(error_scenario, scenario, profile, no_problems):
    """The HTTP status equals the catalogue's status for the code carried. Checked on every error response seen anywhere in the run, not only in targeted tests."""
    no_problems(checks.status_problems(_readable_error(scenario, error_scenario, profile), profile))


@pytest.mark.requirement("ENV-4")
def test_message_non_empty(error_scenario, scenario, profile, no_problems):
    """message is a non-empty string."""
    no_problems(checks.message_problems(_readable_error(scenario, error_scenario, profile), profile))


@pytest.mark.requirement("ENV-5")
def test_message_reveals_no_internals(error_scenario, scenario, profile, no_problems):
    """message contains no stack trace, file path, or internal host name."""
    no_problems(checks.message_leak_problems(_readable_error(scenario, error_scenario, profile), profile))
