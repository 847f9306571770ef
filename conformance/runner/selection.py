"""What this run selected, so the verdict never claims what was not checked.

A requirement is fully checked only when every one of its applicable tests was collected,
selected and run. `-k`, `-m`, `--deselect`, `--lf`, naming single files or node ids, `-x`, an
interrupt or a spent budget can each leave some out; `Selection` counts, per requirement, the tests
the suite has for it (after the profile's `not_applicable` cases and `--level` are taken out, which
are by design), the tests left after every other deselection, and (at the end) the tests that ran.
A MUST short of any of these is `skipped` with a reason that says how much ("2 of 5 tests
deselected (-k 'not wrong_scheme')"), so the verdict is `incomplete`.

Collection happens where the tests run (each xdist worker collects the same items), so the
counts are plain data that travel to the controller in `workeroutput`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from conformance.contract.resources import SUITE_DIR

_MARK = re.compile(r"""mark\.requirement\(\s*["']([A-Z]+-[0-9]+)["']""")


@lru_cache(maxsize=1)
def requirement_files() -> dict[str, frozenset[str]]:
    """Requirement id → the suite files (names) that hold a test for it, read from the sources, so
    a run that collected only some files knows which requirements it cannot have fully checked."""
    files: dict[str, set[str]] = {}
    for path in sorted(SUITE_DIR.glob("test_*.py")):
        for rid in _MARK.findall(path.read_text(encoding="utf-8")):
            files.setdefault(rid, set()).add(path.name)
    return {rid: frozenset(names) for rid, names in files.items()}


@dataclass
class Selection:
    planned: dict[str, int] = field(default_factory=dict)    # applicable tests per requirement
    selected: dict[str, int] = field(default_factory=dict)   # left after -k/-m/--deselect/--lf
    files: list[str] = field(default_factory=list)           # suite files collected (names)
    partial_files: list[str] = field(default_factory=list)   # files named with ::node ids
    args: list[str] = field(default_factory=list)
    keyword: str = ""
    markexpr: str = ""
    deselect: list[str] = field(default_factory=list)
    last_failed: bool = False
    # requirement id → cases not run because they need an unclaimed scope (by design, like the
    # profile's not_applicable cases: never counted as deselected by the user)
    not_claimed: dict[str, list[str]] = field(default_factory=dict)
    # tests deselected because the profile has no such case or requirement (or `--level` leaves it
    # out): part of pytest's "N deselected", by design, so the summary says so
    by_design: int = 0

    def to_data(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Selection:
        return cls(**data)

    def how(self) -> str:
        """The user's selection options, for reasons: `-k 'not wrong_scheme'`."""
        parts = []
        if self.keyword:
            parts.append(f"-k {self.keyword!r}")
        if self.markexpr:
            parts.append(f"-m {self.markexpr!r}")
        if self.deselect:
            parts.append("--deselect")
        if self.last_failed:
            parts.append("--lf")
        return " ".join(parts)

    def not_fully_checked(self, applicable: list[str], ran: dict[str, int], stopped: str | None) -> dict[str, str]:
        """Requirement id → why it was not fully checked, for every applicable id short of tests."""
        reasons: dict[str, str] = {}
        known_files = requirement_files()
        collected = set(self.files) - set(self.partial_files)
        for rid in applicable:
            missing_files = sorted(known_files.get(rid, frozenset()) - collected)
            planned = self.planned.get(rid, 0)
            selected = self.selected.get(rid, 0)
            if missing_files:
                reasons[rid] = f"not fully collected: this run did not collect all of {', '.join(missing_files)}"
            elif selected < planned:
                how = self.how()
                reasons[rid] = f"{planned - selected} of {planned} tests deselected" + (f" ({how})" if how else "")
            elif ran.get(rid, 0) < selected:
                reasons[rid] = f"{selected - ran.get(rid, 0)} of {selected} tests not run ({stopped or 'run stopped early'})"
        return reasons


def suite_file(path: Any) -> str | None:
    """The suite file name of a collected item's path, or None when it is not a suite test."""
    return _where(str(path))[0]


def in_suite(item: pytest.Item) -> bool:
    """Whether a collected item is one of the suite's tests (under the suite directory, at any depth)."""
    return _where(str(item.path))[1]


@lru_cache(maxsize=1024)
def _where(path: str) -> tuple[str | None, bool]:
    """(suite file name or None, under the suite directory): asked for every item by several hooks,
    and resolving a path walks the file system (measured: ~5,000 `resolve()` calls a run)."""
    resolved, suite_dir = Path(path).resolve(), SUITE_DIR.resolve()
    return (resolved.name if resolved.parent == suite_dir else None), suite_dir in resolved.parents
