"""CHG-0..6: rejected requests are never charged; cut streams and failed tasks settle fairly.

Every judgement reads the billing oracle (conformance/billing/oracle.py) and only the views the CHG-0
control proved live (conformance/billing/charging.py). Rejections are the memoised scenarios, so the
target sees each rejection once per run however many requirements read it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from conformance import checks
from conformance.billing.oracle import BillingOracle, Reading, same_money
from conformance.billing.charging import Control, RejectionPass, moved, rejection_pass, rejection_problems, run_control
from conformance.billing.cut_stream import content_events, cut_stream
from conformance.outcomes import cite, inconclusive
from conformance.contract.profiles import resolve_pointer
from conformance.scenarios.inference import CHAT, build_scenarios
from conformance.suite.conftest import collection_profile

# A stream whose full delivery took at least this long was still flowing when the client cut it
# after its first event, so the cut one must cost strictly less (CHG-5).
SPREAD_S = 0.25
TERMINAL = {"succeeded", "completed", "failed", "cancelled", "canceled", "expired"}
POLL_S = 0.25


def _chg_scenarios(config: pytest.Config) -> dict[str, list[str]]:
    """Rejections by the CHG requirement that covers them (from the profile, at collection)."""
    profile = collection_profile(config)
    groups: dict[str, list[str]] = {"CHG-1": [], "CHG-2": [], "CHG-3": [], "CHG-4": []}
    for s in build_scenarios(profile):
        if s.kind == "auth":
            groups["CHG-1"].append(s.name)
        elif s.kind == "params":
            groups["CHG-3"].append(s.name)
        elif s.kind == "role" and s.expect_status == 429:
            groups["CHG-2"].append(s.name)
        elif s.kind == "role" and s.expect_status in (402, 403):
            groups["CHG-4"].append(s.name)
    return groups


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "rejection" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("requirement")
    names = _chg_scenarios(metafunc.config).get(marker.args[0] if marker else "", [])
    metafunc.parametrize("rejection", names)


@pytest.fixture(scope="session")
def oracle(client, target_config) -> BillingOracle:
    return BillingOracle(client, target_config)


class Charges:
    """The session's control and rejection pass, run lazily inside the first test that needs them
    (not in fixture set-up) so their requests count in that test's evidence and request total."""

    def __init__(self, oracle: BillingOracle, book, target_config, run, names: list[str]) -> None:
        self.oracle, self.book, self.config, self.run, self.names = oracle, book, target_config, run, names
        self._control: Control | None = None
        self._rejections: RejectionPass | None = None
        self.task_control: str | None = None

    def control(self) -> Control:
        if self._control is None:
            self._control = run_control(self.oracle, self.book, self.config, self.run.billable_allowed)
        return self._control

    def live(self) -> Control:
        """The control, for a test that needs a live view: inconclusive without one."""
        control = self.control()
        if not control.views:
            inconclusive(f"CHG-0 control: {control.unavailable}")
        return control

    def rejections(self) -> RejectionPass:
        if self._rejections is None:
            self._rejections = rejection_pass(self.oracle, self.live(), self.book, self.names,
                                              shared_keys_ok=self.run.workers <= 1)
        return self._rejections


@pytest.fixture(scope="session")
def charges(oracle, book, target_config, run, request) -> Charges:
    names = [n for group in _chg_scenarios(request.config).values() for n in group]
    return Charges(oracle, book, target_config, run, names)


def _not_charged(name, scenario, oracle, charges, book, rule) -> None:
    control = charges.live()
    rejections = charges.rejections()
    exchange = scenario(name)
    if exchange.status is not None and exchange.status < 400:
        pytest.skip(f"{exchange.describe()}: the request was not rejected (MAP-* report it), so it may be charged")
    found, code = checks.code_of(exchange, book.profile)
    if book.profile.charged(code if found else None, exchange.status or 0):
        pytest.skip(f"{exchange.describe()}: the profile catalogues this rejection as charged: true")
    problems, used = rejection_problems(oracle, control, book, rejections, name, exchange)
    if not used:
        inconclusive(f"{exchange.describe()}: no billing view could judge it (no request id and no key_id / "
                     f"the key's views were read before this rejection)")
    assert not problems, "; ".join(problems) + rule


@pytest.mark.requirement("CHG-0")
def test_billable_success_visible(charges, rule):
    billing_control = charges.control()
    if billing_control.exchange is not None:
        cite(billing_control.exchange)
    if not billing_control.views:
        inconclusive(billing_control.unavailable)
    assert not billing_control.problem, billing_control.problem + rule


@pytest.mark.requirement("CHG-1")
def test_unauthorized_not_charged(rejection, scenario, oracle, charges, book, rule):
    _not_charged(rejection, scenario, oracle, charges, book, rule)


@pytest.mark.requirement("CHG-2")
def test_rate_limited_not_charged(rejection, scenario, oracle, charges, book, rule):
    _not_charged(rejection, scenario, oracle, charges, book, rule)


@pytest.mark.requirement("CHG-3")
def test_bad_params_not_charged(rejection, scenario, oracle, charges, book, rule):
    _not_charged(rejection, scenario, oracle, charges, book, rule)


@pytest.mark.requirement("CHG-4")
def test_refusal_not_charged(rejection, scenario, oracle, charges, book, rule):
    _not_charged(rejection, scenario, oracle, charges, book, rule)


# --- CHG-5: a cut stream --------------------------------------------------------------------------

def _cost_by_id(oracle: BillingOracle, profile, exchange) -> Reading:
    return oracle.request_cost(exchange.header(profile.request_id_header))


@pytest.mark.requirement("CHG-5")
def test_cut_stream_not_overcharged(client, oracle, charges, book, profile, need_role, rule):
    valid = need_role("valid")
    control = charges.live()
    body = book.chat_body(max_tokens=16, stream=True,
                          messages=[{"role": "user", "content": "Count from one to twenty in words."}])
    key_id = valid.get("key_id")
    spend_view = next((v for v in control.spend_views()), None) if key_id else None
    by_id = "request_cost" in control.views
    if not by_id and spend_view is None:
        inconclusive("CHG-5 needs billing.request_cost or a key_id with a live spend view")
    readings: list[Reading] = []
    if not by_id:
        readings.append(oracle.snapshot([key_id], [spend_view])[(spend_view, key_id)])
    cut = cut_stream(client, CHAT, api_key=valid["api_key"], json=body, label="cut-stream")
    cite(cut)
    if cut.status != 200:
        pytest.skip(f"{cut.describe()}: the gateway did not stream this request, so there is no cut to bill")
    if not by_id:
        oracle.settle()
        readings.append(oracle.snapshot([key_id], [spend_view])[(spend_view, key_id)])
    full = client.request("POST", CHAT, api_key=valid["api_key"], json=body, label="full-stream")
    cite(full)
    assert full.status == 200, f"{full.describe()}: the same stream run to completion was not served" + rule
    oracle.settle()
    if by_id:
        cut_cost, full_cost = _cost_by_id(oracle, profile, cut), _cost_by_id(oracle, profile, full)
    else:
        readings.append(oracle.snapshot([key_id], [spend_view])[(spend_view, key_id)])
        cut_cost = Reading(moved(spend_view, readings[0], readings[1]))
        full_cost = Reading(moved(spend_view, readings[1], readings[2]))
    if not (cut_cost.ok and full_cost.ok):
        inconclusive(f"the oracle could not price both streams: {cut_cost.reason or full_cost.reason}")
    cut_v, full_v = cut_cost.value or 0.0, full_cost.value or 0.0
    rid = cut.header(profile.request_id_header)
    assert cut_v <= full_v or same_money(cut_v, full_v), (
        f"the stream cut after its first event (request id {rid}) cost {cut_v:g}, more than the same request "
        f"run to completion ({full_v:g})" + rule
    )
    delivered_cut, delivered_full = content_events(cut.body), content_events(full.body)
    if delivered_full > delivered_cut and full.elapsed_s >= SPREAD_S:
        assert cut_v < full_v and not same_money(cut_v, full_v), (
            f"the stream cut after {delivered_cut} of {delivered_full} content events (request id {rid}) cost "
            f"{cut_v:g}, as much as the full stream ({full_v:g}): it was billed for what it never delivered" + rule
        )


# --- CHG-6: async tasks ----------------------------------------------------------------------------

class Tasks:
    """Drive the target-config `tasks` routes: create, poll, cancel."""

    def __init__(self, client, section: dict[str, Any], api_key: str, timeout_s: float) -> None:
        self.client, self.section, self.api_key, self.timeout_s = client, section, api_key, timeout_s

    def _send(self, what: str, task_id: str = "", body: Any = None):
        spec = self.section[what]
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        if spec.get("headers"):
            kwargs["headers"] = spec["headers"]
        path = spec["path"].replace("{id}", task_id)
        return self.client.request(spec.get("method", "POST"), path, api_key=self.api_key, label=f"task:{what}",
                                   **kwargs)

    def create(self, failing: bool):
        body = self.section["failing_body"] if failing else (self.section["create"].get("body") or {})
        exchange = self._send("create", body=body)
        found, task_id = resolve_pointer(exchange.json(), self.section.get("id_pointer", "/id"))
        if exchange.status is None or exchange.status >= 400 or not found or not isinstance(task_id, str):
            pytest.fail(f"{exchange.describe()}: the task was not created (no id at "
                        f"{self.section.get('id_pointer', '/id')})")
        return exchange, task_id

    def status(self, exchange) -> str | None:
        found, value = resolve_pointer(exchange.json(), self.section.get("status_pointer", "/status"))
        return value if found and isinstance(value, str) else None

    def wait(self, task_id: str) -> str | None:
        deadline = time.monotonic() + self.timeout_s
        status = None
        while time.monotonic() < deadline:
            time.sleep(POLL_S)
            status = self.status(self._send("get", task_id))
            if status in TERMINAL:
                return status
        return status

    def cancel(self, task_id: str) -> str | None:
        return self.status(self._send("cancel", task_id))


@pytest.fixture(scope="session")
def tasks(client, target_config, profile) -> Tasks:
    section = target_config.section("tasks")
    if section is None:
        pytest.skip(target_config.missing_section_reason("tasks"))
    missing = [k for k in ("create", "failing_body", "get", "cancel") if k not in section]
    if missing:
        pytest.skip(f"section 'tasks' has no {', '.join(missing)}")
    valid = target_config.role("valid")
    if valid is None:
        pytest.skip(target_config.missing_role_reason("valid"))
    return Tasks(client, section, valid["api_key"], max(target_config.request_timeout_s, 2.0))


def _task_views(oracle, control, target_config) -> tuple[str | None, list[str]]:
    key_id = (target_config.role("valid") or {}).get("key_id")
    return key_id, control.spend_views() if key_id else []


def task_control(tasks, oracle, charges, target_config, profile) -> str:
    """'' when a succeeded task showed its charge; else why the task checks cannot be trusted (memoised)."""
    if charges.task_control is None:
        charges.task_control = _run_task_control(tasks, oracle, charges.control(), target_config, profile)
    return charges.task_control


def _run_task_control(tasks, oracle, billing_control, target_config, profile) -> str:
    if not billing_control.views:
        return f"CHG-0 control: {billing_control.unavailable}"
    key_id, views = _task_views(oracle, billing_control, target_config)
    before = oracle.snapshot([key_id], views) if views else {}
    created, task_id = tasks.create(failing=False)
    status = tasks.wait(task_id)
    if status not in ("succeeded", "completed"):
        return f"the control task {task_id} did not succeed (last status {status!r})"
    oracle.settle()
    after = oracle.snapshot([key_id], views) if views else {}
    if any((moved(v, before[(v, key_id)], after[(v, key_id)]) or 0) > 0 for v in views):
        return ""
    if "request_cost" in billing_control.views:
        if (oracle.request_cost(created.header(profile.request_id_header)).value or 0) > 0:
            return ""
    return f"the succeeded control task {task_id} showed no charge in {', '.join(billing_control.views)}"


@pytest.mark.requirement("CHG-6")
@pytest.mark.parametrize("outcome", ["failed", "cancelled"])
def test_task_not_charged(outcome, tasks, oracle, charges, target_config, profile, rule):
    control = charges.live()
    problem = task_control(tasks, oracle, charges, target_config, profile)
    if problem:
        inconclusive(problem)
    key_id, views = _task_views(oracle, control, target_config)
    if not views and "request_cost" not in control.views:
        inconclusive("no live billing view can see this task's key")
    before = oracle.snapshot([key_id], views) if views else {}
    created, task_id = tasks.create(failing=outcome == "failed")
    cite(created)
    status = tasks.cancel(task_id) if outcome == "cancelled" else None
    if status not in TERMINAL:
        status = tasks.wait(task_id)
    if status not in ({"cancelled", "canceled"} if outcome == "cancelled" else {"failed"}):
        pytest.skip(f"task {task_id} ended {status!r}, not {outcome}: nothing to judge")
    oracle.settle()
    after = oracle.snapshot([key_id], views) if views else {}
    problems = []
    rid = created.header(profile.request_id_header)
    if "request_cost" in control.views:
        cost = oracle.request_cost(rid)
        if cost.ok and (cost.value or 0) > 0:
            problems.append(f"the {outcome} task {task_id} (request id {rid}) was charged {cost.value:g}")
    for view in views:
        delta = moved(view, before[(view, key_id)], after[(view, key_id)])
        if delta is not None and not same_money(delta, 0.0):
            what = "the hold was not released" if view == "balance" else "it was charged"
            problems.append(f"billing.{view} of key {key_id} moved by {delta:g} across the {outcome} task {task_id}: "
                            f"{what}")
    assert not problems, "; ".join(problems) + rule
