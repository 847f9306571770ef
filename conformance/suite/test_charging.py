"""CHG-0..6: rejected requests are never charged; cut streams and failed tasks settle fairly.

Every judgement reads the billing oracle (conformance/billing/oracle.py) and only the views the CHG-0
control proved live (conformance/billing/control.py), read around the rejections by one pass
(conformance/billing/rejection_pass.py). Rejections are the memoised scenarios, so the
target sees each rejection once per run however many requirements read it.
"""

from __future__ import annotations

import pytest

from conformance.billing.charge_book import ChargeBook, rejections_by_requirement
from conformance.billing.cut_stream import cut_stream_overcharges
from conformance.billing.oracle import BillingOracle
from conformance.billing.tasks import OUTCOMES, TaskDriver, task_driver, task_judgement
from conformance.outcomes import cite, inconclusive
from conformance.suite.conftest import collection_profile, realtime_cases, scoped


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "rejection" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("requirement")
    profile = collection_profile(metafunc.config)
    groups = rejections_by_requirement(profile)
    metafunc.parametrize("rejection", scoped(groups.get(marker.args[0] if marker else "", []), profile))


@pytest.fixture(scope="session")
def oracle(client, target_config) -> BillingOracle:
    return BillingOracle(client, target_config)


@pytest.fixture(scope="session")
def charges(oracle, book, target_config, run_context, request) -> ChargeBook:
    profile = collection_profile(request.config)
    names = [n for group in rejections_by_requirement(profile).values() for n in group]
    if "realtime" not in run_context.claims.claimed:  # its refusals are not claimed: do not send them
        names = [n for n in names if n not in realtime_cases(profile)]
    judged = [] if run_context.workers > 1 else list(dict.fromkeys(  # an xdist worker holds every item, runs some
        item.callspec.params["rejection"] for item in request.session.items
        if "rejection" in getattr(getattr(item, "callspec", None), "params", {})))
    return ChargeBook(oracle, book, target_config, run_context.billable_allowed, run_context.workers <= 1, names, judged=judged)


@pytest.fixture(scope="session")
def tasks(client, target_config) -> TaskDriver:
    driver = task_driver(client, target_config)
    if isinstance(driver, str):
        pytest.skip(driver)
    return driver


@pytest.mark.requirement("CHG-0")
def test_billable_success_visible(charges, no_problems):
    control = charges.control()
    if control.exchange is not None:
        cite(control.exchange)
    if not control.views:
        inconclusive(control.unavailable)
    no_problems([control.problem] if control.problem else [])


@pytest.mark.requirement("CHG-1")
def test_unauthorized_not_charged(rejection, scenario, charges, no_problems):
    no_problems(charges.rejection_charges(rejection, scenario(rejection)))


@pytest.mark.requirement("CHG-2")
def test_rate_limited_not_charged(rejection, scenario, charges, no_problems):
    no_problems(charges.rejection_charges(rejection, scenario(rejection)))


@pytest.mark.requirement("CHG-3")
def test_bad_params_not_charged(rejection, scenario, charges, no_problems):
    no_problems(charges.rejection_charges(rejection, scenario(rejection)))


@pytest.mark.requirement("CHG-4")
def test_refusal_not_charged(rejection, scenario, charges, no_problems):
    no_problems(charges.rejection_charges(rejection, scenario(rejection)))


@pytest.mark.requirement("CHG-5")
def test_cut_stream_not_overcharged(client, oracle, charges, book, profile, need_role, no_problems):
    valid = need_role("valid")
    no_problems(cut_stream_overcharges(client, oracle, charges.live(), book, profile, valid))


@pytest.mark.requirement("CHG-6")
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_task_not_charged(outcome, tasks, oracle, charges, profile, no_problems):
    """The procedure is conformance/billing/tasks.py; each outcome costs a few requests (create, one
    poll or cancel, two oracle snapshots) plus, once per run, the succeeded control task."""
    judgement = task_judgement(outcome, tasks, oracle, charges, profile)
    cite(*judgement.evidence)
    if judgement.skipped:
        pytest.skip(judgement.skipped)
    no_problems(judgement.problems)
    if judgement.inconclusive:
        inconclusive(judgement.inconclusive)
