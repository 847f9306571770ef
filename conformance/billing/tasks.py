"""CHG-6: async tasks that fail or are cancelled are not charged, and their hold is released.

Drives the target config's `tasks` routes (create, poll, cancel). A control task that succeeds
must show its charge first: without it "the failed task cost nothing" proves nothing.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from conformance.billing.charges import Charges
from conformance.billing.passes import Control, moved
from conformance.billing.oracle import BillingOracle, same_money
from conformance.contract.profiles import Profile, resolve_pointer
from conformance.contract.target_config import TargetConfig
from conformance.outcomes import cite, inconclusive
from conformance.transport.client import Exchange, GatewayClient

TERMINAL = {"succeeded", "completed", "failed", "cancelled", "canceled", "expired"}
POLL_S = 0.25
REQUIRED = ("create", "failing_body", "get", "cancel")


class Tasks:
    """Drive the target-config `tasks` routes: create, poll, cancel."""

    def __init__(self, client: GatewayClient, section: dict[str, Any], api_key: str, timeout_s: float) -> None:
        self.client, self.section, self.api_key, self.timeout_s = client, section, api_key, timeout_s

    def _send(self, what: str, task_id: str = "", body: Any = None) -> Exchange:
        spec = self.section[what]
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        if spec.get("headers"):
            kwargs["headers"] = spec["headers"]
        path = spec["path"].replace("{id}", task_id)
        return self.client.request(spec.get("method", "POST"), path, api_key=self.api_key, label=f"task:{what}",
                                   **kwargs)

    def create(self, failing: bool) -> tuple[Exchange, str]:
        body = self.section["failing_body"] if failing else (self.section["create"].get("body") or {})
        exchange = self._send("create", body=body)
        found, task_id = resolve_pointer(exchange.json(), self.section.get("id_pointer", "/id"))
        if exchange.status is None or exchange.status >= 400 or not found or not isinstance(task_id, str):
            pytest.fail(f"{exchange.describe()}: the task was not created (no id at "
                        f"{self.section.get('id_pointer', '/id')})")
        return exchange, task_id

    def status(self, exchange: Exchange) -> str | None:
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


def open_tasks(client: GatewayClient, config: TargetConfig) -> Tasks:
    """The `tasks` routes of the target config; skips naming what is missing."""
    section = config.section("tasks")
    if section is None:
        pytest.skip(config.missing_section_reason("tasks"))
    missing = [k for k in REQUIRED if k not in section]
    if missing:
        pytest.skip(f"section 'tasks' has no {', '.join(missing)}")
    valid = config.role("valid")
    if valid is None:
        pytest.skip(config.missing_role_reason("valid"))
    return Tasks(client, section, valid["api_key"], max(config.request_timeout_s, 2.0))


def _task_views(control: Control, config: TargetConfig) -> tuple[str | None, list[str]]:
    key_id = (config.role("valid") or {}).get("key_id")
    return key_id, control.spend_views() if key_id else []


def task_control(tasks: Tasks, oracle: BillingOracle, charges: Charges, profile: Profile) -> str:
    """'' when a succeeded task showed its charge; else why the task checks cannot be trusted (memoised)."""
    if charges.task_control is None:
        charges.task_control = _run_task_control(tasks, oracle, charges.control(), charges.config, profile)
    return charges.task_control


def _run_task_control(tasks: Tasks, oracle: BillingOracle, control: Control, config: TargetConfig,
                      profile: Profile) -> str:
    if not control.views:
        return f"CHG-0 control: {control.unavailable}"
    key_id, views = _task_views(control, config)
    before = oracle.snapshot([key_id], views) if views else {}
    created, task_id = tasks.create(failing=False)
    status = tasks.wait(task_id)
    if status not in ("succeeded", "completed"):
        return f"the control task {task_id} did not succeed (last status {status!r})"
    oracle.settle()
    after = oracle.snapshot([key_id], views) if views else {}
    if any((moved(v, before[(v, key_id)], after[(v, key_id)]) or 0) > 0 for v in views):
        return ""
    if "request_cost" in control.views:
        if (oracle.request_cost(created.header(profile.request_id_header)).value or 0) > 0:
            return ""
    return f"the succeeded control task {task_id} showed no charge in {', '.join(control.views)}"


def unsettled_task_charges(outcome: str, tasks: Tasks, oracle: BillingOracle, charges: Charges,
                           profile: Profile) -> list[str]:
    """Run one task to `outcome` ("failed" or "cancelled") and say how it was charged or held.

    Inconclusive without a live view or a control task that showed its charge; skips when the
    task ended otherwise (nothing to judge).
    """
    control = charges.live()
    problem = task_control(tasks, oracle, charges, profile)
    if problem:
        inconclusive(problem)
    key_id, views = _task_views(control, charges.config)
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
    return problems
