"""From test outcomes to requirement statuses and the verdict.

Precedence within a requirement: failed > error > inconclusive > skipped > passed. `error` is a
crash inside the suite (our bug, not the target's): it never makes a target non-conformant, only
the run incomplete. A requirement that applies but ran no test is `skipped` ("not run").

A requirement of a scope the target does not claim — or whose every test needs such a scope — is
`not_claimed`: not run by design, never `skipped`, no part of the verdict. A test that ended
`not_applicable` (the case does not arise on this gateway, e.g. it answered correctly before the
case could be reached) neither passes nor leaves the requirement unchecked; a requirement whose
every test is `not_applicable` is `passed` with a reason saying so (nothing it asks was violated,
and nothing was left unchecked).

The verdict is the contract's (conformance.report.grade): only claimed `contract`/`rfc` MUSTs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from conformance.contract.claims import Claims
from conformance.contract.profiles import Profile
from conformance.contract.requirements import Requirement, registry
from conformance.report import grade

STATUS_ORDER = ("failed", "error", "inconclusive", "skipped", "passed")
STATUSES = ("passed", "failed", "skipped", "inconclusive", "error", grade.NOT_CLAIMED)
# Results the whole-run observer files under the test during which it saw the violation: they
# fail a requirement, but they are not pytest test failures of their own.
OBSERVER_SUFFIX = " (observer)"


@dataclass
class TestResult:
    nodeid: str
    requirement: str
    outcome: str  # passed | failed | skipped | inconclusive | error | not_applicable
    reason: str = ""
    evidence: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    duration_s: float = 0.0
    # The typed problems of a failure (`checks.problem.Problem.to_dict`, identical ones once with a
    # `count`, each pointing at its exchange's HAR entry when there is one); empty otherwise.
    problems: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def observed(self) -> bool:
        return self.nodeid.endswith(OBSERVER_SUFFIX)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestResult:
        return cls(**data)


def applicable_requirements(profile: Profile, level: str = "all") -> list[Requirement]:
    levels = {"must": ("MUST",), "should": ("SHOULD",), "all": ("MUST", "SHOULD")}[level]
    return [r for r in registry().values()
            if r.applies_to(profile) and not r.planned and r.level_for(profile.id) in levels]


def not_covered(profile: Profile) -> list[str]:
    return [r.id for r in registry().values() if r.planned and r.applies_to(profile)]


class Results:
    def __init__(self, profile: Profile, level: str = "all", claims: Claims | None = None) -> None:
        self.profile = profile
        self.level = level
        # The scopes the run certifies (None: every scope, as before claims existed).
        self.claims = claims
        # Requirement id → its test cases not run because they need an unclaimed scope
        # ("node id (needs realtime)"), from collection (conformance.runner.collection).
        self.not_claimed_tests: dict[str, list[str]] = {}
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
            basis = requirement.basis(self.profile.id)
            unclaimed_cases = self.not_claimed_tests.get(requirement.id, [])
            if self.claims is not None and requirement.scope not in self.claims.claimed:
                status, reason = grade.NOT_CLAIMED, f"scope '{requirement.scope}' is not claimed by the target config"
                tests = []
            elif unclaimed_cases and not [t for t in tests if not t.observed]:
                status, reason = grade.NOT_CLAIMED, _cases_not_claimed(unclaimed_cases, every=True)
                tests = []
            else:
                status, reason = _status(tests)
                if basis.level == "MUST" and self.level == "should":
                    status, reason = ("skipped", "not checked (--level should)") if status == "passed" or not tests else (status, reason)
                unchecked = self.unchecked.get(requirement.id)
                if unchecked and status in ("passed", "skipped"):
                    status, reason = "skipped", "not fully checked: " + unchecked.removeprefix("not fully collected: ")
                if unclaimed_cases:
                    note = _cases_not_claimed(unclaimed_cases, every=False)
                    reason = f"{reason}; {note}" if reason else note
            row: dict[str, Any] = {
                "id": requirement.id,
                "level": basis.level,
                "title": requirement.title,
                "scope": requirement.scope,
                "basis": basis.to_dict(),
                "status": status,
                "tests": [t.nodeid for t in tests],
                "reason": reason,
            }
            evidence, omitted = bounded_evidence(e for t in tests if t.outcome == "failed" for e in t.evidence)
            row["evidence"] = evidence
            if omitted:
                row["evidence_omitted"] = omitted
            problems, left_out = bounded_problems(t for t in tests if t.outcome == "failed")
            if problems:
                row["problems"] = problems
            if left_out:
                row["problems_omitted"] = left_out
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
        """The contract's tally per level (practice requirements are graded apart: `practice`)."""
        rows = self.requirements() if rows is None else rows
        summary = {level: {s: 0 for s in STATUSES} for level in ("MUST", "SHOULD")}
        for row in rows:
            if not grade.is_practice(row):
                summary[row["level"]][row["status"]] += 1
        return summary

    @staticmethod
    def verdict(rows: list[dict[str, Any]]) -> str:
        return grade.verdict(rows)


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


MAX_PROBLEMS = 20


def bounded_problems(tests: Iterable[TestResult]) -> tuple[list[dict[str, Any]], int]:
    """The failed tests' typed problems, identical ones (same requirement, title, message, subject)
    once with their summed `count` and the first test that found them; at most MAX_PROBLEMS, and how
    many distinct ones were left out."""
    kept: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for test in tests:
        for problem in test.problems:
            key = (problem["requirement"], problem["title"], problem["message"], problem.get("subject", ""))
            if key in kept:
                kept[key]["count"] = kept[key].get("count", 1) + problem.get("count", 1)
            else:
                kept[key] = {**problem, "test": test.nodeid}
    rows = list(kept.values())
    return rows[:MAX_PROBLEMS], max(0, len(rows) - MAX_PROBLEMS)


def _cases_not_claimed(cases: list[str], every: bool) -> str:
    """`not claimed: 2 cases (…[invalid_agent_id] needs realtime, …)`."""
    shown = ", ".join(c.rsplit("::", 1)[-1] for c in cases[:3]) + (f" and {len(cases) - 3} more" if len(cases) > 3 else "")
    if every:
        return f"every case needs a scope the target config does not claim: {shown}"
    return f"not claimed: {len(cases)} case{'s' if len(cases) != 1 else ''} ({shown})"


def _status(tests: list[TestResult]) -> tuple[str, str]:
    if not tests:
        return "skipped", "not run in this session (deselected or filtered out)"
    applicable = [t for t in tests if t.outcome != "not_applicable"]
    if not applicable:
        first = tests[0].reason or "the case does not arise on this gateway"
        return "passed", f"no case arose on this gateway ({first})"
    tests = applicable
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
