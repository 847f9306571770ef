"""MAP-3 on the realtime plane: refusals are HTTP answers to the WebSocket handshake.

The realtime scenarios (each malformed agent_id, one session over the concurrency limit) run once
in the scenario book, so ENV-1..5, HDR-1, HDR-2 and SEC-1 judge the same handshake answers as
every other error. Here: each malformed agent_id is refused with its code and no upgrade, and a
429 for concurrency is a real limit — closing a session frees a slot.
"""

from __future__ import annotations

import pytest

from conformance import checks
from conformance.outcomes import cite, inconclusive, not_applicable
from conformance.scenarios.realtime import concurrency_probes, realtime_scenarios
from conformance.suite.conftest import collection_profile, parametrize_cases

NO_SUCH_CODE = "the profile catalogues no such realtime code"
pytestmark = pytest.mark.scope("realtime")  # every case here is a realtime handshake


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    scenarios = realtime_scenarios(collection_profile(metafunc.config))
    if "agent_id_scenario" in metafunc.fixturenames:
        names = [s.name for s in scenarios if s.param == "agent_id"]
        parametrize_cases(metafunc, "agent_id_scenario", names, NO_SUCH_CODE)
    if "concurrency_code" in metafunc.fixturenames:
        names = [s.name for s in scenarios if s.param != "agent_id"]
        parametrize_cases(metafunc, "concurrency_code", names, NO_SUCH_CODE)


@pytest.mark.requirement("MAP-3")
def test_malformed_agent_id_refused(agent_id_scenario, scenario, book, profile, rule_suffix):
    """Each catalogued code is produced, with its status, by the role that triggers it"""
    expected = book.scenarios[agent_id_scenario]
    exchange = scenario(agent_id_scenario)
    found, code = checks.code_of(exchange, profile)
    assert exchange.status != 101, (
        f"{exchange.describe()}: the gateway upgraded a realtime session with a malformed agent_id "
        f"({expected.description}) instead of refusing it with {expected.expect_status} {expected.expect_code!r}" + rule_suffix
    )
    assert exchange.status == expected.expect_status and code == expected.expect_code, (
        f"{exchange.describe()}: expected {expected.expect_status} with code {expected.expect_code!r}, "
        f"got {exchange.status} with code {code if found else '(none)'!r}" + rule_suffix
    )


@pytest.mark.requirement("MAP-3")
def test_freed_session_slot_is_reused(concurrency_code, scenario, book, rule_suffix):
    """Each catalogued code is produced, with its status, by the role that triggers it"""
    denied = scenario(concurrency_code)
    probe = concurrency_probes(book).get(concurrency_code)
    if probe is None or denied.status != book.scenarios[concurrency_code].expect_status:
        not_applicable(f"{denied.describe()}: no concurrency refusal to release (reported by test_code_produced)")
    cite(*probe.opened)
    after = probe.after_release
    if after is None:  # refused before this run held a session: another client may hold the key's slots
        inconclusive(f"{denied.describe()}: refused before this run held any session, so none could be freed")
    cite(after)
    if after.status != 101 and probe.unwaited:
        inconclusive(probe.unwaited)
    assert after.status == 101, (
        f"{after.describe()}: after closing one of {len(probe.opened)} sessions, a new handshake was still refused "
        "after waiting each refusal's Retry-After: the limit does not count open sessions" + rule_suffix
    )
