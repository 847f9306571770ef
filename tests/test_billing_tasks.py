"""CHG-6's task procedure (conformance/billing/tasks.py): configurable words and pointers, and each
outcome (failed, cancelled, expired) reached on the real reference gateway."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from conformance.billing.oracle import Reading
from conformance.billing.tasks import (
    DEFAULT_STATUSES,
    TaskDriver,
    TaskRun,
    TaskUnavailable,
    TaskWords,
    judge_tasks,
    task_driver,
)
from conformance.contract.target_config import parse_config
from conformance.errors import ConfigError
from conformance.reference.gateway_process import ReferenceProcess
from conformance.transport.client import Exchange, GatewayClient


class TestWords:
    def test_defaults(self):
        words = TaskWords.from_section({})
        assert words.by_outcome == DEFAULT_STATUSES
        assert words.outcome_of("canceled") == "cancelled"
        assert words.outcome_of("completed") == "succeeded"
        assert words.outcome_of("running") is None
        assert "expired" in words.terminal

    def test_a_string_or_list_overrides_one_meaning_only(self):
        words = TaskWords.from_section({"statuses": {"expired": "TIMED_OUT", "failed": ["ERROR", "FAILED"]}})
        assert words.outcome_of("TIMED_OUT") == "expired"
        assert words.outcome_of("expired") is None
        assert words.outcome_of("FAILED") == "failed"
        assert words.outcome_of("cancelled") == "cancelled"

    def test_missing_fields_name_the_outcome_s_field(self):
        driver = TaskDriver(None, {"create": {"method": "POST", "path": "/t"}, "get": {"method": "GET", "path": "/t/{id}"}},  # type: ignore[arg-type]
                            "k", 1.0)
        assert driver.missing("expired") == ["tasks.expiring_body"]
        assert driver.missing("cancelled") == ["tasks.cancel"]
        assert driver.missing("failed") == ["tasks.failing_body"]


class TestConfig:
    def test_schema_accepts_the_new_fields(self):
        data = {"tasks": {"expiring_body": {"ttl": 1}, "expires_after_s": 1.5, "id_pointer": "/data/id",
                          "status_pointer": "/data/state", "role": "valid",
                          "statuses": {"expired": "TIMED_OUT", "succeeded": ["DONE"]}}}
        parse_config(data, "inline")

    @pytest.mark.parametrize("tasks", [{"statuses": {"finished": ["x"]}}, {"statuses": {"failed": []}},
                                       {"expires_after_s": -1}, {"id_pointer": "id"}])
    def test_schema_rejects_bad_fields(self, tasks):
        with pytest.raises(ConfigError, match="tasks"):
            parse_config({"tasks": tasks}, "inline")


@pytest.fixture(scope="module")
def mindproxy():
    with ReferenceProcess("mindproxy") as process:
        yield process


def _driver(process: ReferenceProcess, **overrides: Any) -> tuple[TaskDriver, GatewayClient]:
    config = dict(process.config)
    config["tasks"] = {**config["tasks"], **overrides}
    client = GatewayClient(process.url, timeout_s=10)
    driver = task_driver(client, parse_config(config, "reference"))
    assert isinstance(driver, TaskDriver), driver
    return driver, client


@pytest.mark.parametrize("outcome", ["succeeded", "failed", "cancelled", "expired"])
def test_each_outcome_is_reached_on_the_reference(mindproxy, outcome):
    driver, client = _driver(mindproxy)
    try:
        run = driver.play(outcome)
    finally:
        client.close()
    assert driver.words.outcome_of(run.status) == outcome, run.status
    assert driver.ended_otherwise(run) == ""


def test_other_words_are_configured_not_failed(mindproxy):
    """The reference says 'expired'; a config that maps it elsewhere sees the task end otherwise."""
    driver, client = _driver(mindproxy, statuses={"expired": ["gone"], "cancelled": ["cancelled", "expired"]})
    try:
        run: TaskRun = driver.play("expired")
    finally:
        client.close()
    assert run.status == "expired"
    assert "not expired: nothing to judge" in driver.ended_otherwise(run)


def test_unknown_word_is_inconclusive_naming_the_field():
    driver = TaskDriver(None, {}, "k", 1.0)  # type: ignore[arg-type]
    run = TaskRun("expired", None, "task_1", status="TIMED_OUT")  # type: ignore[arg-type]
    reason = driver.ended_otherwise(run)
    assert "tasks.statuses" in reason and "'TIMED_OUT'" in reason


def test_missing_facts_skip_naming_the_field(suite, tmp_path):
    """A config without an expiring task or a disabled role leaves those checks skipped, naming the
    field, and the verdict incomplete: never a pass for what was not checked."""
    import yaml

    with ReferenceProcess("mindproxy") as process:
        config = yaml.safe_load(process.config_path.read_text())
        config["tasks"].pop("expiring_body")
        config["roles"].pop("disabled")
        copy = tmp_path / "target-copy.yaml"
        copy.write_text(yaml.safe_dump(config))
        run = suite("--target", process.url, "--target-config", str(copy), "--profile", "mindproxy",
                    "-k", "task_not_charged or disabled_key_unauthorized", "-rs")
    assert run.verdict == "incomplete", run.output[-3000:]
    assert "tasks.expiring_body" in run.output and "role 'disabled'" in run.output, run.output[-3000:]
    rows = {r["id"]: r for r in run.report["requirements"]}
    assert rows["CHG-6"]["status"] == "skipped" and "expiring_body" in rows["CHG-6"]["reason"], rows["CHG-6"]
    assert rows["MAP-3"]["status"] == "skipped" and "disabled" in rows["MAP-3"]["reason"], rows["MAP-3"]


def test_one_window_pins_a_defect_on_its_outcome(suite):
    """The outcomes' tasks share one window; a kept hold moves its balance, and each outcome is then
    judged again alone: the expired task fails, its neighbours in the shared window pass."""
    run = suite("--profile", "mindproxy", "-k", "task_not_charged", "-rA", defects=("expired_task_keeps_hold",))
    outcomes = {line.split("[", 1)[1].split("]", 1)[0]: line.split()[0] for line in run.output.splitlines()
                if line.startswith(("PASSED", "FAILED")) and "test_task_not_charged[" in line}
    assert outcomes == {"failed": "PASSED", "cancelled": "PASSED", "expired": "FAILED"}, run.output[-3000:]
    assert "hold was not released" in run.output, run.output[-3000:]


class _Oracle:
    """No view moves; request_cost prices every task at 0."""

    def settle(self) -> None:
        pass

    def snapshot(self, keys, views):  # type: ignore[no-untyped-def]
        return {(view, key): Reading(1.0) for view in views for key in keys}

    def request_cost(self, request_id):  # type: ignore[no-untyped-def]
        return Reading(0.0)


class _Control:
    views = ("request_cost", "key_spend")

    def spend_views(self) -> list[str]:
        return ["key_spend"]


class _CappedDriver(TaskDriver):
    """A gateway that refuses a task while two others of the key run (once), else ends it as meant."""

    def __init__(self) -> None:
        section = {name: {"path": "/t"} for name in ("create", "get", "cancel")}
        super().__init__(SimpleNamespace(concurrency=8), {**section, "failing_body": {"fail": True}, "expiring_body": {"ttl": 1}},  # type: ignore[arg-type]
                         "k", 1.0)
        self.refused = {"expired"}
        self.played: list[str] = []

    def play(self, outcome: str) -> TaskRun:
        self.played.append(outcome)
        if outcome in self.refused:
            self.refused.discard(outcome)
            raise TaskUnavailable("429: too many tasks running for this key")
        created = Exchange("POST", "http://gw.invalid/t", {}, b"{}", status=200, headers=httpx.Headers({"x-request-id": f"req-{outcome}"}))
        return TaskRun(outcome, created, f"task-{outcome}", status=outcome, exchanges=[created])


def test_a_task_refused_in_the_shared_window_is_judged_alone():
    """Sharing one window never costs a verdict: a task the gateway refused beside the others (a cap
    on a key's running tasks) is played again in a window of its own, and judged."""
    driver = _CappedDriver()
    profile = SimpleNamespace(request_id_header="x-request-id")
    judged = judge_tasks(["failed", "cancelled", "expired"], driver, _Oracle(), _Control(), "key_1", profile,  # type: ignore[arg-type]
                         shared_key=False)
    assert driver.played.count("expired") == 2, driver.played
    assert all(not j.inconclusive and not j.problems and not j.skipped for j in judged.values()), judged


class _RunningClient:
    """A task API whose task never ends; the driver's sleeps move a fake clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.gets = 0

    def request(self, method, path, **kwargs):  # type: ignore[no-untyped-def]
        self.gets += 1
        return Exchange(method, "http://gw.invalid" + path, {}, None, status=200, body=b'{"status": "running"}')


def test_a_running_task_is_asked_less_and_less_often():
    """POLL_S, then twice as long each time up to MAX_POLL_S, the last GET at the deadline: a task
    that takes 10 s costs a handful of GETs, not forty."""
    client = _RunningClient()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(round(seconds, 3))
        client.now += seconds

    driver = TaskDriver(client, {"get": {"method": "GET", "path": "/t/{id}"}}, "k", 10.0, sleep=sleep,  # type: ignore[arg-type]
                        clock=lambda: client.now)
    run = TaskRun("failed", None, "task_1")  # type: ignore[arg-type]
    assert driver.poll(run) == "running"
    assert waits == [0.25, 0.25, 0.5, 1.0, 2.0, 2.0, 2.0, 2.0, 0.25], waits
    assert client.gets == len(waits) and abs(sum(waits) - (0.25 + 10.0)) < 1e-9
