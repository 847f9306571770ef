"""How a test says more than pass/fail: inconclusive results and the exchanges it judged.

`inconclusive(reason)` is for answers the suite cannot know (the billing oracle shows nothing, so
"not charged" proves nothing): reported as `inconclusive`, never as passed. `cite(exchange)` names
an exchange a test judged, so it becomes evidence even when a shared scenario sent it earlier.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conformance.transport.client import Exchange


class Inconclusive(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """A result the target gave us no way to decide."""


def inconclusive(reason: str) -> None:
    exc = Inconclusive(f"inconclusive: {reason}")
    exc._use_item_location = True  # `-rs` names the test, not this line of outcomes.py
    raise exc


# The running test's evidence list (it lives in that test's `item.stash`); the runner binds it for
# the test's duration, so `cite` needs no handle on the test.
_citations: ContextVar[list["Exchange"] | None] = ContextVar("gateway_conformance_citations", default=None)


def cite(*exchanges: "Exchange") -> None:
    sink = _citations.get()
    if sink is None:  # outside a conformance test: nothing collects evidence
        return
    for exchange in exchanges:
        if exchange not in sink:
            sink.append(exchange)


def collect_citations(sink: list["Exchange"] | None) -> None:
    """Send `cite` to `sink` (the runner calls this as each test starts, and with None after it)."""
    _citations.set(sink)
