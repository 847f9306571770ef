"""CHG-0's control: one billable success must show in a billing view before any "not charged" counts.

Why a control: "the rejection cost 0" proves nothing if the oracle shows 0 for everything. A
view (request cost, key spend, balance) counts for the CHG tests only if it showed one billable
success; with none, every CHG result is inconclusive. UPS-6/UPS-10 ask the same of the request
cost of a request served through the fault-injecting provider (`served_cost`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from conformance.billing.oracle import EPSILON, BillingOracle, Reading
from conformance.contract.profiles import Profile
from conformance.contract.target_config import TargetConfig
from conformance.outcomes import billable_reason, inconclusive
from conformance.scenarios.inference import ScenarioBook
from conformance.transport.client import Exchange
from conformance.transport.gather import side_by_side

SPEND_VIEWS = ("key_spend", "balance")


@dataclass
class Control:
    """CHG-0's outcome: the views that showed a billable success, or why none could."""

    views: tuple[str, ...] = ()
    unavailable: str = ""  # why no view could be used (→ inconclusive)
    problem: str = ""  # a configured view that answered but did not show the charge (→ CHG-0 fails)
    exchange: Exchange | None = None
    apart: frozenset[str] = frozenset()  # key_ids whose balance the control's charge left alone

    def spend_views(self) -> list[str]:
        return [v for v in SPEND_VIEWS if v in self.views]

    @property
    def not_live(self) -> str:
        """'' when a view showed the control's charge; else why no "not charged" can be trusted."""
        return "" if self.views else f"CHG-0 control: {self.unavailable}"

    def live(self) -> Control:
        """This control, for a judgement that needs a live view: inconclusive without one."""
        if not self.views:
            inconclusive(self.not_live)
        return self


def moved(view: str, before: Reading, after: Reading) -> float | None:
    """How much a view says was charged between two readings (balance goes down when charged)."""
    if not (before.ok and after.ok):
        return None
    assert before.value is not None and after.value is not None
    return before.value - after.value if view == "balance" else after.value - before.value


@dataclass
class CostShown:
    """Whether one billable success shows its charge in billing.request_cost."""

    cost: float | None = None  # > 0: the view showed the charge
    unreadable: str = ""  # the view did not answer (why)
    silent: str = ""  # the view answered, with no charge


def cost_shown(oracle: BillingOracle, profile: Profile, exchange: Exchange) -> CostShown:
    """The control's question of request_cost, for CHG-0 and for the UPS tests' provider control:
    a view that shows 0 for a served request would show 0 for everything (the caller settles)."""
    request_id = exchange.header(profile.request_id_header)
    cost = oracle.request_cost(request_id)
    if not cost.ok:
        return CostShown(unreadable=cost.reason)
    if (cost.value or 0) > 0:
        return CostShown(cost.value)
    return CostShown(silent=f"billing.request_cost shows {cost.value:g} for request id {request_id}")


def _control_key(billable_allowed: bool) -> str:
    return f"billing-control:{billable_allowed}"


def control_so_far(book: ScenarioBook, billable_allowed: bool) -> Control | None:
    """The control, if it ran in this session already (None: not yet)."""
    return book.shared.get(_control_key(billable_allowed))


def run_control(oracle: BillingOracle, book: ScenarioBook, config: TargetConfig, billable_allowed: bool) -> Control:
    """CHG-0's control, run once per session (per xdist worker) and shared by every test that
    needs it (the CHG tests, FUZ-3): one billable request and its readings, not one per caller."""
    key = _control_key(billable_allowed)
    if key not in book.shared:
        book.shared[key] = _run_control(oracle, book, config, billable_allowed)
    return book.shared[key]


def _run_control(oracle: BillingOracle, book: ScenarioBook, config: TargetConfig, billable_allowed: bool) -> Control:
    if not oracle.configured:
        return Control(unavailable=oracle.missing_reason())
    if not billable_allowed:
        return Control(unavailable=billable_reason("the billing control (one request)")
                       + " to check that rejections are not charged")
    valid = config.role("valid")
    if valid is None:
        return Control(unavailable=config.missing_role_reason("valid"))
    key_id: str = valid.get("key_id") or ""  # "": no key views to read
    views = [v for v in SPEND_VIEWS if oracle.has(v)] if key_id else []
    # The balances of the keys driven ahead in lanes of their own (a burst role's), read in the same
    # snapshots: if the control's charge leaves one alone, that lane may go on beside the later
    # windows on `valid`'s balance (`BillingOracle.moved_by`); if not, those windows wait for it.
    apart = _lane_key_ids(book, config, key_id) if "balance" in views else []
    before = oracle.snapshot([key_id, *apart], views) if views else {}
    exchange = book.chat(valid["api_key"], label="billing-control")
    if exchange.status is None or not 200 <= exchange.status < 300:
        return Control(unavailable=f"the billable control request was not served ({exchange.describe()})",
                       exchange=exchange)
    oracle.settle()
    # After the settle the key's views and the request's cost are read side by side: both only
    # follow the control request, not each other.
    read = side_by_side([lambda: oracle.snapshot([key_id, *apart], views) if views else {},
                         lambda: cost_shown(oracle, book.profile, exchange) if oracle.has("request_cost") else None],
                        oracle.client.concurrency)
    after = cast("dict[tuple[str, str], Reading]", read[0])
    cost = cast("CostShown | None", read[1])
    shown: list[str] = []
    silent: list[str] = []
    unreadable: list[str] = []
    request_id = exchange.header(book.profile.request_id_header)
    if cost is not None:
        if cost.unreadable:
            unreadable.append(cost.unreadable)
        elif cost.silent:
            silent.append(cost.silent)
        else:
            shown.append("request_cost")
    for view in views:
        delta = moved(view, before[(view, key_id)], after[(view, key_id)])
        if delta is None:
            unreadable.append(before[(view, key_id)].reason or after[(view, key_id)].reason)
        elif delta > 0:
            shown.append(view)
        else:
            silent.append(f"billing.{view} of key {key_id} went {before[(view, key_id)].value:g} → "
                          f"{after[(view, key_id)].value:g}")
    shown_apart = _note_apart(oracle, key_id, apart, before, after)
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
    return Control(tuple(shown), problem=problem, exchange=exchange, apart=shown_apart)


def _lane_key_ids(book: ScenarioBook, config: TargetConfig, valid_key_id: str) -> list[str]:
    """The key_ids of the roles whose requests are gathered ahead on lanes of their own: those whose
    codes a burst provokes, and the provider's role (the UPS faults)."""
    roles = {code.role for code in book.profile.inference_codes() if code.trigger == "burst" and code.role}
    provider_role = (config.section("provider") or {}).get("role")
    if provider_role:
        roles.add(str(provider_role))
    key_ids = [str((config.role(name) or {}).get("key_id") or "") for name in sorted(roles)]
    return [k for k in dict.fromkeys(key_ids) if k and k != valid_key_id]


def _note_apart(oracle: BillingOracle, key_id: str, others: list[str],
                before: dict[tuple[str, str], Reading], after: dict[tuple[str, str], Reading]) -> frozenset[str]:
    """Each of `others` whose balance stayed put while the control's charge moved `key_id`'s."""
    charged = moved("balance", before.get(("balance", key_id), Reading(None)), after.get(("balance", key_id), Reading(None)))
    if charged is None or charged <= EPSILON:
        return frozenset()
    apart: set[str] = set()
    for other in others:
        delta = moved("balance", before.get(("balance", other), Reading(None)), after.get(("balance", other), Reading(None)))
        if delta is not None and abs(delta) <= EPSILON:
            oracle.note_apart(key_id, other)
            apart.add(other)
    return frozenset(apart)

