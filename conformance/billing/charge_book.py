"""The session's "not charged" bookkeeping for CHG-1..6: which rejection each CHG requirement
covers, and the control and rejection pass, run once and shared by every CHG test.

Why lazily: the control and the pass run inside the first test that needs them (not in fixture
set-up), so their requests count in that test's evidence and request total.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from conformance.billing.control import Control, run_control
from conformance.billing.oracle import BillingOracle
from conformance.billing.rejection_pass import RejectionPass, prefetch_costs, rejection_pass, rejection_problems
from conformance.checks.envelope import code_of
from conformance.contract.profiles import Profile
from conformance.contract.target_config import TargetConfig
from conformance.outcomes import inconclusive
from conformance.scenarios.inference import ScenarioBook, build_scenarios
from conformance.scenarios.scenario import ScenarioUnavailable
from conformance.transport.client import Exchange

if TYPE_CHECKING:
    from conformance.billing.tasks import TaskJudgement


def rejections_by_requirement(profile: Profile) -> dict[str, list[str]]:
    """The profile's rejection scenarios grouped by the CHG requirement that covers them."""
    groups: dict[str, list[str]] = {"CHG-1": [], "CHG-2": [], "CHG-3": [], "CHG-4": []}
    for s in build_scenarios(profile):
        if s.kind == "auth":
            groups["CHG-1"].append(s.name)
        elif s.kind == "params":
            groups["CHG-3"].append(s.name)
        elif s.kind in ("role", "realtime") and s.expect_status == 429:
            groups["CHG-2"].append(s.name)
        elif s.kind == "realtime" and s.expect_status == 400:  # a malformed agent_id: a bad parameter
            groups["CHG-3"].append(s.name)
        elif s.kind in ("role", "realtime") and s.expect_status in (402, 403):
            groups["CHG-4"].append(s.name)
    return groups


@dataclass
class ChargeBook:
    """The session's CHG-0 control and rejection pass, each run at most once (as `ScenarioBook`
    memoises the scenarios)."""

    oracle: BillingOracle
    book: ScenarioBook
    config: TargetConfig
    billable_allowed: bool
    shared_keys_ok: bool  # False under xdist: other workers may charge the same keys meanwhile
    names: list[str]
    judged: list[str] = field(default_factory=list)  # the rejections whose CHG tests will run here
    task_control: str | None = None  # memo of `billing.tasks.run_task_control`
    task_outcomes: list[str] = field(default_factory=list)  # the CHG-6 outcomes whose tests will run here
    task_judgements: dict[str, TaskJudgement] = field(default_factory=dict)  # memo of `billing.tasks.judge_tasks`
    _control: Control | None = field(default=None, repr=False)
    _rejections: RejectionPass | None = field(default=None, repr=False)

    def control(self) -> Control:
        if self._control is None:
            self._control = run_control(self.oracle, self.book, self.config, self.billable_allowed)
        return self._control

    def live(self) -> Control:
        """The control, for a test that needs a live view: inconclusive without one."""
        return self.control().live()

    def rejections(self) -> RejectionPass:
        if self._rejections is None:
            self._rejections = rejection_pass(self.oracle, self.live(), self.book, self.names,
                                              shared_keys_ok=self.shared_keys_ok)
            prefetch_costs(self.oracle, self.live(), self.book, self._rejections,
                           [(name, exchange) for name in self.judged if (exchange := self._judgeable(name)) is not None])
        return self._rejections

    def prime(self) -> None:
        """Run the rejection pass now, where the control is live, before a CHG test reads its own
        rejection: the first test's rejection then goes out in the pass, side by side with the
        others between the spend readings, instead of alone before them."""
        if self.control().views:
            self.rejections()

    def _judgeable(self, name: str) -> Exchange | None:
        """The rejection's exchange when `rejection_charges` would judge it by the oracle (as there)."""
        if not self.book.ran(name):
            return None
        try:
            exchange = self.book.get(name)
        except ScenarioUnavailable:
            return None
        if exchange.status is None or exchange.status < 400:
            return None
        found, code = code_of(exchange, self.book.profile)
        return None if self.book.profile.charged(code if found else None, exchange.status) else exchange

    def rejection_charges(self, name: str, exchange: Exchange) -> list[str]:
        """Why the rejection `name` (whose answer is `exchange`) counts as charged; [] when it does not.

        Skips when the request was not rejected (it may be charged) and is inconclusive when no
        billing view could judge it.
        """
        control = self.live()
        rejections = self.rejections()
        if exchange.status is not None and exchange.status < 400:
            pytest.skip(f"{exchange.describe()}: the request was not rejected (MAP-* report it), so it may be charged")
        found, code = code_of(exchange, self.book.profile)
        if self.book.profile.charged(code if found else None, exchange.status or 0):
            pytest.skip(f"{exchange.describe()}: the profile catalogues this rejection as charged: true")
        problems, used = rejection_problems(self.oracle, control, self.book, rejections, name, exchange)
        if not used:
            inconclusive(f"{exchange.describe()}: no billing view could judge it (no request id and no key_id / "
                         f"the key's views were read before this rejection)")
        return problems
