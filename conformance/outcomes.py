"""How a test says more than pass/fail: inconclusive results and the exchanges it judged.

`inconclusive(reason)` is for answers the suite cannot know (the billing oracle shows nothing, so
"not charged" proves nothing): reported as `inconclusive`, never as passed. `cite(exchange)` names
an exchange a test judged, so it becomes evidence even when a shared scenario sent it earlier.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from _pytest.outcomes import Skipped

if TYPE_CHECKING:
    from conformance.transport.client import Exchange


class Inconclusive(Skipped):
    """A result the target gave us no way to decide."""


def inconclusive(reason: str) -> None:
    raise Inconclusive(f"inconclusive: {reason}")


_cited: list["Exchange"] = []


def cite(*exchanges: "Exchange") -> None:
    for exchange in exchanges:
        if exchange not in _cited:
            _cited.append(exchange)


def take_cited() -> list["Exchange"]:
    taken = list(_cited)
    _cited.clear()
    return taken
