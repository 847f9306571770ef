"""A plugin for suite runs of tests/test_draw_memo.py: counts the FUZ-1 searches whose examples
came from the fork server's draws (`fuzzing.draw_memo`), and says so on stderr at the end."""

from __future__ import annotations

import sys

from conformance.fuzzing import draw_memo

_recall = draw_memo.recall
_counts = {"asked": 0, "recalled": 0}


def _counted(key):  # type: ignore[no-untyped-def]
    found = _recall(key)
    _counts["asked"] += 1
    _counts["recalled"] += found is not None
    return found


draw_memo.recall = _counted  # type: ignore[assignment]


def pytest_unconfigure(config) -> None:  # type: ignore[no-untyped-def]
    print(f"draw_memo: {_counts['recalled']} of {_counts['asked']} recalled", file=sys.stderr)
