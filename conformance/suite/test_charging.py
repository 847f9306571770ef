"""CHG-0..6: rejected requests are never charged; cut streams and failed tasks settle fairly.

Every judgement reads the billing oracle (conformance/billing/oracle.py) and only the views the CHG-0
control proved live (conformance/billing/charging.py). Rejections are the memoised scenarios, so the
target sees each rejection once per run however many requirements read it.
"""

from __future__ import annotations

import pytest

from conformance.billing.charges import Charges, rejections_by_requirement
from conformance.billing.cut_stream import cut_stream_overcharges
from conformance.billing.oracle import BillingOracle
from conformance.billing.tasks import OUTCOMES, TaskDriver, judge_task, run_task_control, task_driver, task_key_id
from conformance.outcomes import cite, inconclusive
from conformance.suite.conftest import collection_profile


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "rejection" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("requirement")
    groups = rejections_by_requirement(collection_profile(metafunc.config))
    metafunc.parametrize("rejection", groups.get(marker.args[0] if marker else "", []))


@pytest.fixture(scope="session")
def oracle(client, target_config) -> BillingOracle:
    return BillingOracle(client, target_config)


@pytest.fixture(scope="session")
def charges(oracle, book, target_config, run, request) -> Charges:
    names = [n for group in rejections_by_requirement(collection_profile(request.config)).values() for n in group]
    return Charges(oracle, book, target_config, run.billable_allowed, run.workers <= 1, names)


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


def _task_key_shared(charges: Charges) -> bool:
    """Under xdist the `valid` key spends in other workers too: its views cannot judge one task."""
    return not charges.shared_keys_ok and (charges.config.section("tasks") or {}).get("role", "valid") == "valid"


@pytest.mark.requirement("CHG-6")
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_task_not_charged(outcome, tasks, oracle, charges, profile, no_problems):
    """The procedure is conformance/billing/tasks.py; each outcome costs a few requests (create, one
    poll or cancel, two oracle snapshots) plus, once per run, the succeeded control task."""
    missing = tasks.missing(outcome)
    if missing:
        pytest.skip(f"section 'tasks' has no {', '.join(missing)} (needed for a {outcome} task)")
    control = charges.live()
    if charges.task_control is None:
        charges.task_control = run_task_control(tasks, oracle, charges.control(), task_key_id(charges.config),
                                                profile, shared_key=_task_key_shared(charges))
    if charges.task_control:
        inconclusive(charges.task_control)
    judgement = judge_task(outcome, tasks, oracle, control, task_key_id(charges.config), profile,
                           shared_key=_task_key_shared(charges))
    cite(*judgement.evidence)
    if judgement.skipped:
        pytest.skip(judgement.skipped)
    no_problems(judgement.problems)
    if judgement.inconclusive:
        inconclusive(judgement.inconclusive)
