"""How a test says more than pass/fail: inconclusive results and the exchanges it judged.

`inconclusive(reason)` is for answers the suite cannot know (the billing oracle shows nothing, so
"not charged" proves nothing): reported as `inconclusive`, never as passed. `cite(exchange)` names
an exchange a test judged, so it becomes evidence even when a shared scenario sent it earlier.

Three kinds of "this test did not judge":
- `pytest.skip(reason)`: a real gap — a role, section or budget is missing, the run was cut short.
  The requirement is at best `skipped`, so a MUST leaves the verdict `incomplete`.
- `inconclusive(reason)`: the suite tried and the target's answer cannot decide it.
- `not_applicable(reason)`: the case does not arise on this gateway — what it needs did not
  happen, and whether that is itself wrong is judged by the requirement the reason names (e.g.
  "no 429 was produced (MAP-3 judges that)"), or it is a legitimate choice (a gateway that leaves
  parameter validation to its provider has no rejection whose forwarding UPS-5 could check). It
  does not count as unchecked: the requirement's status comes from its other tests, and one whose
  every case is not applicable passes with a reason saying so.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from conformance.transport.client import Exchange

# `pytest.skip.Exception` is pytest's public name for its skip exception (`_pytest` is touched in
# quarantine.py only), a class attribute mypy cannot resolve as a base class: hence the ignores.


class Inconclusive(pytest.skip.Exception):  # type: ignore[name-defined]  # see above
    """A result the target gave us no way to decide."""


def inconclusive(reason: str) -> NoReturn:
    exc = Inconclusive(f"inconclusive: {reason}")
    exc._use_item_location = True  # `-rs` names the test, not this line of outcomes.py
    raise exc


class NotApplicable(pytest.skip.Exception):  # type: ignore[name-defined]  # see above
    """This case does not arise on this gateway (see the module docstring)."""


def not_applicable(reason: str) -> NoReturn:
    exc = NotApplicable(f"not applicable: {reason}")
    exc._use_item_location = True
    raise exc


def billable_reason(what: str) -> str:
    """Why `what` was not sent: the one wording of "this costs money on a real target", for skips,
    inconclusives and unavailable scenarios alike (the reference gateway always allows it)."""
    return f"{what} sends billable requests: pass --allow-billable (or limits.allow_billable)"


# The running test's evidence list (it lives in that test's `item.stash`); the runner binds it for
# the test's duration, so `cite` needs no handle on the test.
_citations: ContextVar[list[Exchange] | None] = ContextVar("gateway_conformance_citations", default=None)


def cite(*exchanges: Exchange) -> None:
    sink = _citations.get()
    if sink is None:  # outside a conformance test: nothing collects evidence
        return
    for exchange in exchanges:
        if exchange not in sink:
            sink.append(exchange)


def collect_citations(sink: list[Exchange] | None) -> None:
    """Send `cite` to `sink` (the runner calls this as each test starts, and with None after it)."""
    _citations.set(sink)
