"""The oracle pass around the rejections: every rejection the CHG tests judge, sent side by side
between two readings of its key's spend views.

Why one pass: every rejection the profile catalogues is sent once per session (scenarios.py) and
read by many requirements. The key-spend views are read once before and once after all of them
(after one settle), and each key's movement must be explained by the charges the request-cost
view recorded for billable successes (a burst's requests before its 429): an unexplained move
fails every rejection sent with that key, a recorded charge fails exactly the one it names. Only
the views the CHG-0 control (`billing.control`) proved live are read. A balance may be shared by
keys (a wallet's, an organisation's): its move may also hold the charges of other keys' served
requests in the pass, each key's all or none (`sharing_keys`).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field

from conformance.billing.control import Control, moved
from conformance.billing.oracle import BillingOracle, Reading
from conformance.contract.profiles import Profile
from conformance.scenarios.inference import ScenarioBook
from conformance.scenarios.scenario import ScenarioUnavailable
from conformance.transport.client import Exchange
from conformance.transport.gather import run_lanes


@dataclass
class RejectionPass:
    """Key views read before and after the rejections sent in this pass."""

    key_of: dict[str, str]  # scenario → key_id whose views it must not move (sent in this pass)
    sent: list[str] = field(default_factory=list)  # every scenario sent in this pass
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
    result = RejectionPass(key_of, sent=[name for name in names if not book.ran(name)])
    views = control.spend_views()
    result.before = oracle.snapshot(list(key_of.values()), views) if views and key_of else {}
    book.prefetch(result.sent)  # side by side, between the readings
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
        out += [(name, e) for e in _exchanges_of(book, name)]
    return out


def _exchanges_of(book: ScenarioBook, name: str) -> list[Exchange]:
    code = book.scenarios[name].expect_code
    history = book.burst_history.get(code or "", [])
    return list(history) if history else [book.get(name)]


def sharing_keys(oracle: BillingOracle, book: ScenarioBook, passed: RejectionPass,
                 key_id: str) -> dict[str, list[tuple[str, Exchange]]]:
    """The served exchanges of this pass sent with another key a charge has not shown apart from
    `key_id` (`BillingOracle.apart`), by that key: a balance may be a wallet's or an
    organisation's, and a burst's billable successes on a key of the same wallet move it as much as
    its own. ("" gathers the keys of roles without a key_id.)"""
    out: dict[str, list[tuple[str, Exchange]]] = {}
    for name in passed.sent:
        if not book.ran(name) or passed.key_of.get(name) == key_id:
            continue
        role_name = scenario_key_role(book, name)
        other = str((book.config.role(role_name) or {}).get("key_id") or "") if role_name else ""
        if other == key_id or (other and oracle.apart(key_id, other)):
            continue
        try:
            served = [(name, e) for e in _exchanges_of(book, name) if e.status is not None and e.status < 400]
        except ScenarioUnavailable:
            continue
        if served:
            out.setdefault(other, []).extend(served)
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
            if "balance" in control.views:
                for shared in sharing_keys(oracle, book, passed, key_id).values():
                    wanted.update((id(e), e) for _, e in shared)
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
    def costs(pairs: list[tuple[str, Exchange]]) -> float:
        if "request_cost" not in control.views:
            return 0.0  # nothing served among them (below): nothing to explain
        return sum(cost_of(oracle, profile, passed, e).value or 0.0 for _, e in pairs)

    siblings = pass_exchanges(book, passed, key_id)
    for view in control.spend_views():
        sharing = sharing_keys(oracle, book, passed, key_id) if view == "balance" else {}  # served ones only
        served = bool(sharing) or any(e.status is not None and e.status < 400 for _, e in siblings)
        if "request_cost" not in control.views and served:
            continue  # served requests in the pass, and no per-request view to explain them
        explained = costs(siblings)
        # Each key that may share the balance shares it or not: the move must be the key's own
        # charges plus those of some of them (a charged rejection matches none but by chance).
        shares = [costs(pairs) for pairs in sharing.values()]
        candidates = [explained + sum(chosen) for n in range(len(shares) + 1)
                      for chosen in itertools.combinations(shares, n)]
        delta = moved(view, passed.before.get((view, key_id), Reading(None)),
                      passed.after.get((view, key_id), Reading(None)))
        if delta is None:
            continue
        used.append(view)
        if all(abs(delta - candidate) > 1e-9 for candidate in candidates):
            sent = sorted({n for n, _ in siblings})
            also = sorted({n for pairs in sharing.values() for n, _ in pairs})
            problems.append(f"billing.{view} of key {key_id} moved by {delta:g} across the rejections "
                            f"{', '.join(sent)}, {explained:g} of it explained by recorded request costs"
                            + (f" ({', '.join(f'{x:g}' for x in shares)} more if it shares its balance with "
                               f"the keys of {', '.join(also)})" if also else ""))
    return problems, used
