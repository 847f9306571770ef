"""CHG-6's procedure: drive a gateway's async-task API to a failed, cancelled or expired end and
judge that the task was not charged and its hold released.

Why configurable words and pointers: task APIs differ. Where the id sits in the create answer,
where the status sits in the task view and which words mean "finished" are the gateway's choice,
not the contract's, so they come from the target config's `tasks` section with documented
defaults (`DEFAULT_*` below; SPEC.md's example routes). A task that ends with a word no list names
is reported as inconclusive naming `tasks.statuses`, never as a failure: the suite could not tell
what happened to it, the gateway did nothing wrong that the suite can prove.

Why a control: "the failed task cost 0" proves nothing if the oracle shows 0 for a task that
succeeded too; a succeeded task must show its charge first (memoised by the caller).

Nothing here imports pytest: the test turns a `TaskJudgement` into pass / fail / skip /
inconclusive, so the procedure can be read, reused and self-tested on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from conformance.billing.control import Control, moved
from conformance.billing.oracle import BillingOracle, Reading, same_money
from conformance.contract.profiles import Profile, resolve_pointer
from conformance.contract.target_config import TargetConfig
from conformance.transport.client import NOT_JSON, Exchange, GatewayClient
from conformance.transport.gather import side_by_side
from conformance.transport.uri_template import expand

if TYPE_CHECKING:
    from conformance.billing.charge_book import ChargeBook

OUTCOMES = ("failed", "cancelled", "expired")
# The words that end a task, by what they mean (target config `tasks.statuses`, each overridable).
DEFAULT_STATUSES: dict[str, tuple[str, ...]] = {
    "succeeded": ("succeeded", "completed"),
    "failed": ("failed",),
    "cancelled": ("cancelled", "canceled"),
    "expired": ("expired",),
}
DEFAULT_ID_POINTER = "/id"
DEFAULT_STATUS_POINTER = "/status"
DEFAULT_ROLE = "valid"
POLL_S = 0.25
# A task still running is asked again after POLL_S, then twice as long each time up to this: a
# gateway whose tasks take seconds gets a handful of GETs, not one every POLL_S to the timeout.
MAX_POLL_S = 2.0
MIN_WAIT_S = 2.0
# What each outcome needs from the section besides `create` and `get`.
OUTCOME_FIELDS = {"failed": "failing_body", "cancelled": "cancel", "expired": "expiring_body"}


class TaskUnavailable(Exception):
    """The task API did not do what the config says it does (no task created, no id found)."""


@dataclass(frozen=True)
class TaskWords:
    """Which status words mean which end (target config `tasks.statuses`)."""

    by_outcome: Mapping[str, tuple[str, ...]]

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> TaskWords:
        configured = section.get("statuses") or {}
        words: dict[str, tuple[str, ...]] = {}
        for outcome, default in DEFAULT_STATUSES.items():
            value = configured.get(outcome, default)
            words[outcome] = (value,) if isinstance(value, str) else tuple(value)
        return cls(words)

    @property
    def terminal(self) -> frozenset[str]:
        return frozenset(w for ws in self.by_outcome.values() for w in ws)

    def outcome_of(self, status: str | None) -> str | None:
        """'succeeded' | 'failed' | 'cancelled' | 'expired' for a terminal word, else None."""
        return next((o for o, ws in self.by_outcome.items() if status in ws), None)


@dataclass
class TaskRun:
    """One task driven towards an outcome: its create exchange, id, and the last status seen."""

    outcome: str
    created: Exchange
    task_id: str
    status: str | None = None
    exchanges: list[Exchange] = field(default_factory=list)


class TaskDriver:
    """Drive the target-config `tasks` routes: create, poll, cancel, with the configured words."""

    def __init__(self, client: GatewayClient, section: Mapping[str, Any], api_key: str, timeout_s: float,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.section, self.api_key = client, section, api_key
        self.timeout_s = max(timeout_s, MIN_WAIT_S)
        self.words = TaskWords.from_section(section)
        self.id_pointer = section.get("id_pointer", DEFAULT_ID_POINTER)
        self.status_pointer = section.get("status_pointer", DEFAULT_STATUS_POINTER)
        self.sleep, self.clock = sleep, clock

    def missing(self, outcome: str) -> list[str]:
        """The section's fields this outcome needs and the config lacks."""
        needed = ["create", "get", OUTCOME_FIELDS[outcome]] if outcome in OUTCOME_FIELDS else ["create", "get"]
        return [f"tasks.{name}" for name in needed if not self.section.get(name)]

    def _send(self, what: str, task_id: str = "", body: Any = None) -> Exchange:
        spec = self.section[what]
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        if spec.get("headers"):
            kwargs["headers"] = spec["headers"]
        path = expand(spec["path"], {"id": task_id})
        return self.client.request(spec.get("method", "POST"), path, api_key=self.api_key, label=f"task:{what}",
                                   **kwargs)

    def body_for(self, outcome: str) -> Any:
        if outcome == "failed":
            return self.section["failing_body"]
        if outcome == "expired":
            return self.section["expiring_body"]
        return self.section["create"].get("body") or {}

    def create(self, outcome: str) -> TaskRun:
        where = "tasks.failing_body" if outcome == "failed" else "tasks.expiring_body" if outcome == "expired" \
            else "tasks.create"
        exchange = self._send("create", body=self.body_for(outcome))
        if exchange.status is None or exchange.status >= 400:
            raise TaskUnavailable(f"{exchange.describe()}: the gateway did not create the task described by {where}")
        body = exchange.json()
        found, task_id = resolve_pointer(body, self.id_pointer) if body is not NOT_JSON else (False, None)
        if not found or not isinstance(task_id, (str, int)) or isinstance(task_id, bool):
            raise TaskUnavailable(f"{exchange.describe()}: no task id at tasks.id_pointer {self.id_pointer!r}")
        return TaskRun(outcome, exchange, str(task_id), self.status(exchange), [exchange])

    def status(self, exchange: Exchange) -> str | None:
        body = exchange.json()
        found, value = resolve_pointer(body, self.status_pointer) if body is not NOT_JSON else (False, None)
        return value if found and isinstance(value, str) else None

    def poll(self, run: TaskRun, first_wait_s: float = POLL_S, since: float | None = None) -> str | None:
        """GET the task until its status is terminal or the timeout passes; → the last status.

        `since`: when the create went out (`self.clock()`). The first GET goes `first_wait_s`
        after it, not after its answer: the task's time runs from the create's arrival, so a gateway
        150 ms away is not asked one round trip later than a near one."""
        deadline = self.clock() + first_wait_s + self.timeout_s
        wait = first_wait_s if since is None else max(0.0, first_wait_s - (self.clock() - since))
        step = POLL_S
        while True:
            self.sleep(wait)
            exchange = self._send("get", run.task_id)
            run.exchanges.append(exchange)
            run.status = self.status(exchange)
            if run.status in self.words.terminal or self.clock() >= deadline:
                return run.status
            wait = min(step, max(0.0, deadline - self.clock()))  # the last GET at the deadline, not after
            step = min(step * 2, MAX_POLL_S)

    def cancel(self, run: TaskRun) -> str | None:
        exchange = self._send("cancel", run.task_id)
        run.exchanges.append(exchange)
        run.status = self.status(exchange)
        return run.status

    def play(self, outcome: str) -> TaskRun:
        """Create a task meant to end `outcome` ('succeeded' too) and drive it to its end."""
        sent = self.clock()
        run = self.create(outcome)
        if outcome == "cancelled":
            self.cancel(run)
        if run.status not in self.words.terminal:
            first = float(self.section.get("expires_after_s", 0) or 0) if outcome == "expired" else POLL_S
            self.poll(run, max(first, POLL_S), since=sent)
        return run

    def ended_otherwise(self, run: TaskRun) -> str:
        """Why a task that did not end `run.outcome` cannot be judged ('' when it did)."""
        ended = self.words.outcome_of(run.status)
        if ended == run.outcome:
            return ""
        if ended is None:
            words = "/".join(self.words.by_outcome[run.outcome])
            return (f"task {run.task_id} did not reach a status tasks.statuses names within {self.timeout_s:g}s "
                    f"(last status {run.status!r} at tasks.status_pointer {self.status_pointer!r}; "
                    f"expected {words}): configure tasks.statuses if the gateway uses other words")
        return f"task {run.task_id} ended {run.status!r} ({ended}), not {run.outcome}: nothing to judge"


def task_driver(client: GatewayClient, config: TargetConfig) -> TaskDriver | str:
    """The driver for the config's `tasks` section, or why there is none (a skip reason)."""
    section = config.section("tasks")
    if section is None:
        return config.missing_section_reason("tasks")
    role_name = section.get("role", DEFAULT_ROLE)
    role = config.role(role_name)
    if role is None:
        return config.missing_role_reason(role_name)
    return TaskDriver(client, section, role["api_key"], config.request_timeout_s)


def task_key_id(config: TargetConfig) -> str | None:
    section = config.section("tasks") or {}
    return (config.role(section.get("role", DEFAULT_ROLE)) or {}).get("key_id")


@dataclass
class TaskJudgement:
    """CHG-6's verdict on one task: problems (→ failed), or why it cannot be judged."""

    problems: list[str] = field(default_factory=list)
    skipped: str = ""  # the config lacks what this outcome needs
    inconclusive: str = ""  # the task API or the oracle could not give an answer
    evidence: list[Exchange] = field(default_factory=list)


def usable_views(control: Control, key_id: str | None, shared_key: bool) -> list[str]:
    """The key-level views that can attribute this task's money to it.

    Under xdist other workers spend with the `valid` key at the same time (`shared_key`): its
    spend and balance then move for reasons that are not the task's, so only request_cost judges.
    """
    return control.spend_views() if key_id and not shared_key else []


Snapshot = dict[tuple[str, str], Reading]


def run_task_control(driver: TaskDriver, oracle: BillingOracle, control: Control, key_id: str | None,
                     profile: Profile, shared_key: bool) -> tuple[str, Snapshot | None]:
    """'' when a succeeded task showed its charge, else why the task judgements cannot be trusted;
    and the window's closing reading (None without one), which is the next window's opening one
    when that follows at once."""
    if not control.views:
        return control.not_live, None
    views = usable_views(control, key_id, shared_key)
    if not views and "request_cost" not in control.views:
        return "no live billing view can see this task's key (no request_cost, and no key_id / a key shared with " \
               "other workers)", None
    kid = key_id or ""
    before = oracle.snapshot([kid], views) if views else {}
    try:
        run = driver.play("succeeded")
    except TaskUnavailable as exc:
        return f"the control task: {exc}", None
    if driver.words.outcome_of(run.status) != "succeeded":
        return f"the control task: {driver.ended_otherwise(run)}", None
    oracle.settle()
    after = oracle.snapshot([kid], views) if views else {}
    if any((moved(v, before[(v, kid)], after[(v, kid)]) or 0) > 0 for v in views):
        return "", after
    if "request_cost" in control.views:
        if (oracle.request_cost(run.created.header(profile.request_id_header)).value or 0) > 0:
            return "", after
    return f"the succeeded control task {run.task_id} showed no charge in {', '.join(control.views)}", None


def _not_playable(outcome: str, driver: TaskDriver) -> TaskJudgement | None:
    """A skip when the config lacks what this outcome needs, else None."""
    missing = driver.missing(outcome)
    if missing:
        return TaskJudgement(skipped=f"section 'tasks' has no {', '.join(missing)} (needed for a {outcome} task)")
    return None


NO_VIEW = "no live billing view can see this task's key"


def _closing_reads(driver: TaskDriver, oracle: BillingOracle, control: Control, kid: str, views: list[str],
                   runs: Mapping[str, TaskRun], profile: Profile) -> tuple[Snapshot, dict[str, Reading]]:
    """After the settle: the window's closing snapshot and each run's request cost, side by side."""
    rids = {outcome: run.created.header(profile.request_id_header) for outcome, run in runs.items()}
    cost_reads = [partial(oracle.request_cost, rid) for rid in rids.values()] if "request_cost" in control.views else []
    closing: list[Any] = side_by_side([lambda: oracle.snapshot([kid], views) if views else {}, *cost_reads],
                                      driver.client.concurrency)
    return closing[0], dict(zip(rids, closing[1:], strict=True)) if cost_reads else {}


def _deltas(views: list[str], kid: str, before: Snapshot, after: Snapshot) -> dict[str, float | None]:
    return {view: moved(view, before.get((view, kid), Reading(None)), after.get((view, kid), Reading(None)))
            for view in views}


def _judged(outcome: str, run: TaskRun, cost: Reading | None, deltas: Mapping[str, float | None],
            key_id: str | None, profile: Profile) -> TaskJudgement:
    """One ended task's verdict from its request cost (None: no such view) and the window's moves."""
    judgement = TaskJudgement(evidence=[run.created])
    used: list[str] = []
    if cost is not None:
        if cost.ok:
            used.append("request_cost")
        if cost.ok and (cost.value or 0) > 0:
            rid = run.created.header(profile.request_id_header)
            judgement.problems.append(f"the {outcome} task {run.task_id} (request id {rid}) was charged {cost.value:g}")
    for view, delta in deltas.items():
        if delta is not None:
            used.append(view)
        if delta is not None and not same_money(delta, 0.0):
            what = "the hold was not released" if view == "balance" else "it was charged"
            judgement.problems.append(f"billing.{view} of key {key_id} moved by {delta:g} across the {outcome} task "
                                      f"{run.task_id}: {what}")
    if not used and not judgement.problems:
        judgement.inconclusive = f"no billing view could read the {outcome} task {run.task_id}'s charge"
    return judgement


def judge_task(outcome: str, driver: TaskDriver, oracle: BillingOracle, control: Control, key_id: str | None,
               profile: Profile, shared_key: bool, opening: Snapshot | None = None) -> TaskJudgement:
    """Play one task to `outcome` between two oracle readings: was it charged, was its hold kept?"""
    skipped = _not_playable(outcome, driver)
    if skipped is not None:
        return skipped
    views = usable_views(control, key_id, shared_key)
    if not views and "request_cost" not in control.views:
        return TaskJudgement(inconclusive=NO_VIEW)
    kid = key_id or ""
    before = opening if opening is not None else oracle.snapshot([kid], views) if views else {}
    try:
        run = driver.play(outcome)
    except TaskUnavailable as exc:
        return TaskJudgement(inconclusive=str(exc))
    why_not = driver.ended_otherwise(run)
    if why_not:
        return TaskJudgement(inconclusive=why_not, evidence=[run.created])
    oracle.settle()
    after, costs = _closing_reads(driver, oracle, control, kid, views, {outcome: run}, profile)
    return _judged(outcome, run, costs.get(outcome), _deltas(views, kid, before, after), key_id, profile)


def _played(driver: TaskDriver, outcome: str) -> Callable[[], TaskRun | TaskUnavailable]:
    def play() -> TaskRun | TaskUnavailable:
        try:
            return driver.play(outcome)
        except TaskUnavailable as exc:
            return exc
    return play


def judge_tasks(outcomes: Sequence[str], driver: TaskDriver, oracle: BillingOracle, control: Control,
                key_id: str | None, profile: Profile, shared_key: bool,
                opening: Snapshot | None = None) -> dict[str, TaskJudgement]:
    """Every outcome's task in one window (played side by side), each judged as `judge_task` would.

    Why one window: each window is two readings, a settle and a task's whole life, one after another
    (at 150 ms a round trip, ~1 s each). A correct gateway moves no view across the window, and a
    task's `request_cost` is its own in any window, so one window judges them all. A view that moved
    cannot say which task moved it: then each outcome is judged again alone (`judge_task`, a window
    and a task of its own), so a defect is pinned on the outcome that has it, never on its neighbours.
    `opening`: the reading that closed the window just before (the control's), when nothing was
    sent since.
    """
    judgements: dict[str, TaskJudgement] = {}
    playable = []
    for outcome in outcomes:
        skipped = _not_playable(outcome, driver)
        if skipped is not None:
            judgements[outcome] = skipped
        else:
            playable.append(outcome)
    if len(playable) <= 1:
        judgements.update({o: judge_task(o, driver, oracle, control, key_id, profile, shared_key, opening)
                           for o in playable})
        return judgements
    views = usable_views(control, key_id, shared_key)
    if not views and "request_cost" not in control.views:
        judgements.update({o: TaskJudgement(inconclusive=NO_VIEW) for o in playable})
        return judgements
    kid = key_id or ""
    before = opening if opening is not None else oracle.snapshot([kid], views) if views else {}
    played = side_by_side([_played(driver, o) for o in playable], driver.client.concurrency)
    oracle.settle()
    ended = {outcome: run for outcome, run in zip(playable, played, strict=True)
             if not isinstance(run, TaskUnavailable) and not driver.ended_otherwise(run)}
    after, costs = _closing_reads(driver, oracle, control, kid, views, ended, profile)
    deltas = _deltas(views, kid, before, after)
    if any(delta is not None and not same_money(delta, 0.0) for delta in deltas.values()):
        judgements.update({o: judge_task(o, driver, oracle, control, key_id, profile, shared_key) for o in playable})
        return judgements
    for outcome, run in zip(playable, played, strict=True):
        if isinstance(run, TaskUnavailable):
            # Refused beside the others (a gateway may cap the tasks a key runs at once; no hold was
            # taken): judged alone, as without the shared window, so sharing never costs a verdict.
            judgements[outcome] = judge_task(outcome, driver, oracle, control, key_id, profile, shared_key)
        elif outcome not in ended:
            judgements[outcome] = TaskJudgement(inconclusive=driver.ended_otherwise(run), evidence=[run.created])
        else:
            judgements[outcome] = _judged(outcome, run, costs.get(outcome), deltas, key_id, profile)
    return judgements


def task_judgement(outcome: str, driver: TaskDriver, oracle: BillingOracle, charge_book: ChargeBook,
                   profile: Profile) -> TaskJudgement:
    """CHG-6 for one outcome, as the suite runs it: the config's fields, the CHG-0 control, the
    succeeded control task (run once per session, memoised on `charges`), then the task itself.

    Under xdist the `valid` key spends in other workers too, so its views cannot judge one task
    (`shared_key`); a dedicated `tasks.role` key can.
    """
    skipped = _not_playable(outcome, driver)
    if skipped is not None:
        return skipped
    control = charge_book.control()
    if not control.views:
        return TaskJudgement(inconclusive=control.not_live)
    key_id = task_key_id(charge_book.config)
    shared = not charge_book.shared_keys_ok and (charge_book.config.section("tasks") or {}).get("role", DEFAULT_ROLE) == \
        DEFAULT_ROLE
    opening = None
    if charge_book.task_control is None:
        charge_book.task_control, opening = run_task_control(driver, oracle, control, key_id, profile,
                                                             shared_key=shared)
    if charge_book.task_control:
        return TaskJudgement(inconclusive=charge_book.task_control)
    if outcome not in charge_book.task_judgements:
        together = [o for o in charge_book.task_outcomes if o not in charge_book.task_judgements]
        charge_book.task_judgements.update(judge_tasks(together if outcome in together else [outcome], driver, oracle,
                                                       control, key_id, profile, shared_key=shared, opening=opening))
    return charge_book.task_judgements[outcome]
