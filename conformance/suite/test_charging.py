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
def charge_book(oracle, book, target_config, run_context, request) -> ChargeBook:
    profile = collection_profile(request.config)
    names = [n for group in rejections_by_requirement(profile).values() for n in group]
    if "realtime" not in run_context.claims.claimed:  # its refusals are not claimed: do not send them
        names = [n for n in names if n not in realtime_cases(profile)]
    judged = [] if run_context.workers > 1 else list(dict.fromkeys(  # an xdist worker holds every item, runs some
        item.callspec.params["rejection"] for item in request.session.items
        if "rejection" in getattr(getattr(item, "callspec", None), "params", {})))
    outcomes = [] if run_context.workers > 1 else list(dict.fromkeys(  # CHG-6's tasks share one window
        item.callspec.params["outcome"] for item in request.session.items
        if getattr(item, "originalname", "") == "test_task_not_charged"))
    return ChargeBook(oracle, book, target_config, run_context.billable_allowed, run_context.workers <= 1, names,
                      judged=judged, task_outcomes=outcomes)


@pytest.fixture(scope="session")
def tasks(client, target_config) -> TaskDriver:
    driver = task_driver(client, target_config)
    if isinstance(driver, str):
        pytest.skip(driver)
    return driver


@pytest.mark.requirement("CHG-0")
def test_billable_success_visible(charge_book, no_problems):
    """Control: a billable success is visible to the billing oracle. Without it every CHG result is inconclusive, not passed."""
    control = charge_book.control()
    if control.exchange is not None:
        cite(control.exchange)
    if not control.views:
        inconclusive(control.unavailable)
    no_problems([control.problem] if control.problem else [])


# CHG-5 before the rejections: nothing is gathered ahead beside it yet (the lanes start after the
# rejection pass), so how fast this machine reads the stream it cuts depends on nothing else.
@pytest.mark.requirement("CHG-5")
def test_cut_stream_not_overcharged(client, oracle, charge_book, book, profile, need_role, no_problems):
    """A stream cut off by the client is charged no more than the usage actually delivered."""
    valid = need_role("valid")
    no_problems(cut_stream_overcharges(client, oracle, charge_book.live(), book, profile, valid))


@pytest.mark.requirement("CHG-1")
def test_unauthorized_not_charged(rejection, scenario, charge_book, no_problems):
    """401 rejections are not charged."""
    charge_book.prime()
    no_problems(charge_book.rejection_charges(rejection, scenario(rejection)))


@pytest.mark.requirement("CHG-2")
def test_rate_limited_not_charged(rejection, scenario, charge_book, no_problems):
    """429 rejections are not charged."""
    charge_book.prime()
    no_problems(charge_book.rejection_charges(rejection, scenario(rejection)))


@pytest.mark.requirement("CHG-3")
def test_bad_params_not_charged(rejection, scenario, charge_book, no_problems):
    """400 bad-parameter rejections are not charged."""
    charge_book.prime()
    no_problems(charge_book.rejection_charges(rejection, scenario(rejection)))


@pytest.mark.requirement("CHG-4")
def test_refusal_not_charged(rejection, scenario, charge_book, no_problems):
    """402 and 403 rejections are not charged."""
    charge_book.prime()
    no_problems(charge_book.rejection_charges(rejection, scenario(rejection)))


@pytest.mark.requirement("CHG-6")
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_task_not_charged(outcome, tasks, oracle, charge_book, profile, no_problems):
    """Failed, cancelled or expired tasks are not charged; any hold is released.

    The procedure is conformance/billing/tasks.py; each outcome costs a few requests (create, one
    poll or cancel) plus, once per run, the succeeded control task and two oracle snapshots around
    the outcomes' tasks, played side by side (each outcome again alone if a view moved)."""
    judgement = task_judgement(outcome, tasks, oracle, charge_book, profile)
    cite(*judgement.evidence)
    if judgement.skipped:
        pytest.skip(judgement.skipped)
    no_problems(judgement.problems)
    if judgement.inconclusive:
        inconclusive(judgement.inconclusive)
