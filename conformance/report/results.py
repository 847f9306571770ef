"""From test outcomes to requirement statuses and the verdict.

Precedence within a requirement: failed > error > inconclusive > skipped > passed. `error` is a
crash inside the suite (our bug, not the target's): it never makes a target non-conformant, only
the run incomplete. A requirement that applies but ran no test is `skipped` ("not run").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from conformance.contract.profiles import Profile
from conformance.contract.requirements import Requirement, registry

STATUS_ORDER = ("failed", "error", "inconclusive", "skipped", "passed")
# Results the whole-run observer files under the test during which it saw the violation: they
# fail a requirement, but they are not pytest test failures of their own.
OBSERVER_SUFFIX = " (observer)"


@dataclass
class TestResult:
    nodeid: str
    requirement: str
    outcome: str  # passed | failed | skipped | inconclusive | error
    reason: str = ""
    evidence: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def observed(self) -> bool:
        return self.nodeid.endswith(OBSERVER_SUFFIX)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TestResult":
        return cls(**data)


def applicable_requirements(profile: Profile, level: str = "all") -> list[Requirement]:
    levels = {"must": ("MUST",), "should": ("SHOULD",), "all": ("MUST", "SHOULD")}[level]
    return [r for r in registry().values()
            if r.applies_to(profile) and not r.planned and r.level_for(profile.id) in levels]


def not_covered(profile: Profile) -> list[str]:
    return [r.id for r in registry().values() if r.planned and r.applies_to(profile)]


class Results:
    def __init__(self, profile: Profile, level: str = "all") -> None:
        self.profile = profile
        self.level = level
        self.tests: list[TestResult] = []
        # Requirement id → why it was not fully checked (selection, stop, budget): such a
        # requirement is at best `skipped`, never `passed` (conformance.runner.selection).
        self.unchecked: dict[str, str] = {}

    def add(self, result: TestResult) -> None:
        self.tests.append(result)

    def extend(self, results: Iterable[TestResult]) -> None:
        self.tests.extend(results)

    @property
    def requests_sent(self) -> int:
        return sum(t.requests for t in self.tests)

    def requirements(self) -> list[dict[str, Any]]:
        by_id: dict[str, list[TestResult]] = {}
        for test in self.tests:
            by_id.setdefault(test.requirement, []).append(test)
        rows = []
        for requirement in self.rows_for():
            tests = by_id.get(requirement.id, [])
            status, reason = _status(tests)
            basis = requirement.basis(self.profile.id)
            if basis.level == "MUST" and self.level == "should":
                status, reason = ("skipped", "not checked (--level should)") if status == "passed" or not tests else (status, reason)
            unchecked = self.unchecked.get(requirement.id)
            if unchecked and status in ("passed", "skipped"):
                status, reason = "skipped", "not fully checked: " + unchecked.removeprefix("not fully collected: ")
            row: dict[str, Any] = {
                "id": requirement.id,
                "level": basis.level,
                "title": requirement.title,
                "status": status,
                "tests": [t.nodeid for t in tests],
                "reason": reason,
            }
            evidence, omitted = bounded_evidence(e for t in tests if t.outcome == "failed" for e in t.evidence)
            row["evidence"] = evidence
            if omitted:
                row["evidence_omitted"] = omitted
            if basis.is_practice:  # the contract is silent here: say so, and why the suite checks it anyway
                row["contract_silent"] = f"{basis.rationale} [{basis.cite}]"
            else:
                row["rule"] = basis.line()
            rows.append(row)
        return rows

    def rows_for(self) -> list[Requirement]:
        """The requirements the report lists: those at the checked level, and under `--level should`
        every MUST too (not checked, so the verdict cannot be conformant)."""
        level = "all" if self.level == "should" else self.level
        return applicable_requirements(self.profile, level)

    def ran(self) -> dict[str, int]:
        """Tests that ran to an outcome per requirement (the observer's extra results not counted)."""
        counts: dict[str, int] = {}
        for test in self.tests:
            if not test.observed:
                counts[test.requirement] = counts.get(test.requirement, 0) + 1
        return counts

    def summary(self, rows: list[dict[str, Any]] | None = None) -> dict[str, dict[str, int]]:
        rows = self.requirements() if rows is None else rows
        summary = {level: {s: 0 for s in ("passed", "failed", "skipped", "inconclusive", "error")} for level in ("MUST", "SHOULD")}
        for row in rows:
            summary[row["level"]][row["status"]] += 1
        return summary

    @staticmethod
    def verdict(rows: list[dict[str, Any]]) -> str:
        musts = [r for r in rows if r["level"] == "MUST"]
        if any(r["status"] == "failed" for r in musts):
            return "non-conformant"
        if any(r["status"] != "passed" for r in musts):
            return "incomplete"
        return "conformant"


MAX_EVIDENCE_ITEMS = 5


def bounded_evidence(items: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """(at most MAX_EVIDENCE_ITEMS distinct items, how many distinct ones were left out): the same
    exchange cited by several tests (one shared scenario, one request id) is listed once."""
    import json

    kept: list[dict[str, Any]] = []
    seen: set[str] = set()
    omitted = 0
    for item in items:
        key = json.dumps(item, sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        if len(kept) < MAX_EVIDENCE_ITEMS:
            kept.append(item)
        else:
            omitted += 1
    return kept, omitted


def _status(tests: list[TestResult]) -> tuple[str, str]:
    if not tests:
        return "skipped", "not run in this session (deselected or filtered out)"
    for status in STATUS_ORDER:
        matching = [t for t in tests if t.outcome == status]
        if matching:
            if status == "passed":
                return "passed", ""
            reason = matching[0].reason or status
            if len(matching) > 1:
                others = len(matching) - 1
                reason += f" (and {others} more {status} test{'s' if others > 1 else ''})"
            return status, reason
    return "skipped", "no outcome"
