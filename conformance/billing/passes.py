"""What the CHG tests share: the billing control (CHG-0) and one oracle pass around the rejections.

Why a control: "the rejection cost 0" proves nothing if the oracle shows 0 for everything. A
view (request cost, key spend, balance) counts for the CHG tests only if it showed one billable
success; with none, every CHG result is inconclusive.

Why one pass: every rejection the profile catalogues is sent once per session (scenarios.py) and
read by many requirements. The key-spend views are read once before and once after all of them
(after one settle), and each key's movement must be explained by the charges the request-cost
view recorded for billable successes (a burst's requests before its 429): an unexplained move
fails every rejection sent with that key, a recorded charge fails exactly the one it names.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from conformance.billing.oracle import BillingOracle, Reading
from conformance.contract.profiles import Profile
from conformance.contract.target_config import TargetConfig
from conformance.scenarios.inference import ScenarioBook
from conformance.scenarios.scenario import ScenarioUnavailable
from conformance.transport.client import Exchange
from conformance.transport.gather import run_lanes

SPEND_VIEWS = ("key_spend", "balance")


@dataclass
class Control:
    """CHG-0's outcome: the views that showed a billable success, or why none could."""

    views: tuple[str, ...] = ()
    unavailable: str = ""  # why no view could be used (→ inconclusive)
    problem: str = ""  # a configured view that answered but did not show the charge (→ CHG-0 fails)
    exchange: Exchange | None = None

    def spend_views(self) -> list[str]:
        return [v for v in SPEND_VIEWS if v in self.views]


def moved(view: str, before: Reading, after: Reading) -> float | None:
    """How much a view says was charged between two readings (balance goes down when charged)."""
    if not (before.ok and after.ok):
        return None
    assert before.value is not None and after.value is not None
    return before.value - after.value if view == "balance" else after.value - before.value


def run_control(oracle: BillingOracle, book: ScenarioBook, config: TargetConfig, billable_allowed: bool) -> Control:
    """CHG-0's control, run once per session (per xdist worker) and shared by every test that
    needs it (the CHG tests, FUZ-3): one billable request and its readings, not one per caller."""
    key = f"billing-control:{billable_allowed}"
    if key not in book.shared:
        book.shared[key] = _run_control(oracle, book, config, billable_allowed)
    return book.shared[key]


def _run_control(oracle: BillingOracle, book: ScenarioBook, config: TargetConfig, billable_allowed: bool) -> Control:
    if not oracle.configured:
        return Control(unavailable=oracle.missing_reason())
    if not billable_allowed:
        return Control(unavailable="the billing control needs one billable request: pass --allow-billable "
                                   "(or limits.allow_billable) to check that rejections are not charged")
    valid = config.role("valid")
    if valid is None:
        return Control(unavailable=config.missing_role_reason("valid"))
    key_id: str = valid.get("key_id") or ""  # "": no key views to read
    views = [v for v in SPEND_VIEWS if oracle.has(v)] if key_id else []
    before = oracle.snapshot([key_id], views) if views else {}
    exchange = book.chat(valid["api_key"], label="billing-control")
    if exchange.status is None or not 200 <= exchange.status < 300:
        return Control(unavailable=f"the billable control request was not served ({exchange.describe()})",
                       exchange=exchange)
    oracle.settle()
    after = oracle.snapshot([key_id], views) if views else {}
    shown: list[str] = []
    silent: list[str] = []
    unreadable: list[str] = []
    request_id = exchange.header(book.profile.request_id_header)
    if oracle.has("request_cost"):
        cost = oracle.request_cost(request_id)
        if not cost.ok:
            unreadable.append(cost.reason)
        elif (cost.value or 0) > 0:
            shown.append("request_cost")
        else:
            silent.append(f"billing.request_cost shows {cost.value:g} for request id {request_id}")
    for view in views:
        delta = moved(view, before[(view, key_id)], after[(view, key_id)])
        if delta is None:
            unreadable.append(before[(view, key_id)].reason or after[(view, key_id)].reason)
        elif delta > 0:
            shown.append(view)
        else:
            silent.append(f"billing.{view} of key {key_id} went {before[(view, key_id)].value:g} → "
                          f"{after[(view, key_id)].value:g}")
    if not key_id and (oracle.has("key_spend") or oracle.has("balance")):
        unreadable.append("role 'valid' has no key_id, so key_spend / balance cannot be read")
    said = "; ".join(silent + unreadable) or "no view configured"
    if not shown:
        return Control(unavailable=f"no billing view showed a billable success (request id {request_id}): {said}",
                       exchange=exchange)
    problem = ""
    if silent:
        problem = (f"a billable success (request id {request_id}) shows in {', '.join(shown)} but not in the other "
                   f"view: " + "; ".join(silent))
    return Control(tuple(shown), problem=problem, exchange=exchange)


@dataclass
class RejectionPass:
    """Key views read before and after the rejections sent in this pass."""

    key_of: dict[str, str]  # scenario → key_id whose views it must not move (sent in this pass)
    before: dict[tuple[str, str], Reading] = field(default_factory=dict)
    after: dict[tuple[str, str], Reading] = field(default_factory=dict)
    costs: dict[int, Reading] = field(default_factory=dict)  # id(exchange) → its request cost


def scenario_key_role(book: ScenarioBook, name: str) -> str | None:
    """The role whose key a scenario presents (None: no key of ours, or none whose spend this pass
    may read)."""
    scenario = book.scenarios[name]
    if scenario.name == "wrong_scheme":
        return "valid"
    if scenario.kind == "realtime":
        if scenario.param != "agent_id":
            # The concurrency probe holds sessions open before the refusal; a gateway may bill
            # sessions, so that key's spend cannot judge the refusal: request_cost only.
            return None
        return (book.config.section("realtime") or {}).get("role") or "valid"
    return scenario.role


def rejection_pass(oracle: BillingOracle, control: Control, book: ScenarioBook, names: list[str],
                   shared_keys_ok: bool) -> RejectionPass:
    """Send the not-yet-sent rejections between two readings of their keys' spend views."""
    key_of: dict[str, str] = {}
    for name in names:
        if book.ran(name):
            continue  # sent before this pass: only its request cost can judge it
        role_name = scenario_key_role(book, name)
        role = book.config.role(role_name) if role_name else None
        # Under xdist other workers serve requests with the valid key and burst the rate-limited
        # one at the same time: those keys' spend cannot be attributed to this pass.
        shared = role_name == "valid" or book.scenarios[name].billable
        if role and role.get("key_id") and (shared_keys_ok or not shared):
            key_of[name] = role["key_id"]
    result = RejectionPass(key_of)
    views = control.spend_views()
    result.before = oracle.snapshot(list(key_of.values()), views) if views and key_of else {}
    book.prefetch([name for name in names if not book.ran(name)])  # side by side, between the readings
    for name in names:
        try:
            book.get(name)
        except ScenarioUnavailable:
            key_of.pop(name, None)
    oracle.settle()
    result.after = oracle.snapshot(list(key_of.values()), views) if views and key_of else {}
    return result


def cost_of(oracle: BillingOracle, profile: Profile, passed: RejectionPass, exchange: Exchange) -> Reading:
    if id(exchange) not in passed.costs:
        passed.costs[id(exchange)] = oracle.request_cost(exchange.header(profile.request_id_header))
    return passed.costs[id(exchange)]


def pass_exchanges(book: ScenarioBook, passed: RejectionPass, key_id: str) -> list[tuple[str, Exchange]]:
    """Every exchange of this pass sent with `key_id`, bursts' successes included."""
    out: list[tuple[str, Exchange]] = []
    for name, kid in passed.key_of.items():
        if kid != key_id or not book.ran(name):
            continue
        code = book.scenarios[name].expect_code
        history = book.burst_history.get(code or "", [])
        out += [(name, e) for e in history] if history else [(name, book.get(name))]
    return out


def prefetch_costs(oracle: BillingOracle, control: Control, book: ScenarioBook, passed: RejectionPass,
                   judged: list[tuple[str, Exchange]]) -> None:
    """Read side by side the request costs `rejection_problems` will read for each of `judged`
    (name, exchange): the exchange's own and its key's pass siblings'. The costs were settled by
    the pass, nothing is sent between them, so only their order changes."""
    if "request_cost" not in control.views:
        return
    wanted: dict[int, Exchange] = {}
    for name, exchange in judged:
        wanted[id(exchange)] = exchange
        key_id = passed.key_of.get(name)
        if key_id is not None:
            wanted.update((id(e), e) for _, e in pass_exchanges(book, passed, key_id))
    todo = [e for i, e in wanted.items() if i not in passed.costs]
    run_lanes([[functools.partial(cost_of, oracle, book.profile, passed, e)] for e in todo], oracle.client.concurrency)


def rejection_problems(oracle: BillingOracle, control: Control, book: ScenarioBook, passed: RejectionPass,
                       name: str, exchange: Exchange) -> tuple[list[str], list[str]]:
    """(problems, views used) for one rejected exchange."""
    profile = book.profile
    problems: list[str] = []
    used: list[str] = []
    request_id = exchange.header(profile.request_id_header)
    if "request_cost" in control.views:
        cost = cost_of(oracle, profile, passed, exchange)
        if cost.ok:
            used.append("request_cost")
            if (cost.value or 0) > 0:
                problems.append(f"{exchange.describe()}: request id {request_id} was charged {cost.value:g} "
                                f"(billing.request_cost)")
    key_id = passed.key_of.get(name)
    if key_id is None:
        return problems, used
    siblings = pass_exchanges(book, passed, key_id)
    burst = any(e.status is not None and e.status < 400 for _, e in siblings)
    explained = 0.0
    if "request_cost" in control.views:
        for _, sibling in siblings:
            reading = cost_of(oracle, profile, passed, sibling)
            explained += reading.value or 0.0
    elif burst:
        return problems, used  # served requests in the pass, and no per-request view to explain them
    for view in control.spend_views():
        delta = moved(view, passed.before.get((view, key_id), Reading(None)),
                      passed.after.get((view, key_id), Reading(None)))
        if delta is None:
            continue
        used.append(view)
        if abs(delta - explained) > 1e-9:
            sent = sorted({n for n, _ in siblings})
            problems.append(f"billing.{view} of key {key_id} moved by {delta:g} across the rejections "
                            f"{', '.join(sent)}, {explained:g} of it explained by recorded request costs")
    return problems, used
