"""Known deviations (`--baseline known-deviations.yaml`): accept the failures a team already knows
about without hiding a new one.

```yaml
deviations:
  - id: HDR-2
    reason: 429s come from the CDN, which drops Retry-After (GW-123)
    expires: 2027-01-31        # optional: from this day on the entry counts as not listed
  - id: CHG-0
    accept: [skipped, inconclusive]   # default: failed
    reason: no billing oracle on staging
  - test: conformance/suite/test_mapping.py::test_bad_key_unauthorized[wrong_scheme]   # one test, not the requirement
    reason: GW-456
```

A listed requirement whose status the entry accepts is `known` (it does not fail the run); one that passes is `fixed`
(the entry can go); an expired entry is `expired` and counts as not listed; a listed requirement
whose status the entry does not accept is `unconfirmed`. An entry that matches nothing in the run is
`stale`. An entry works for a practice requirement as for any other (with `--require-practice` an
accepted one does not fail the run); a requirement of an unclaimed scope (`not_claimed`) is never a
deviation: its entry is listed as not applicable. The report's verdict stays honest: the baseline
adds its own `baseline.verdict`, the verdict with known deviations counted as passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance.contract.requirements import get as get_requirement
from conformance.contract.safe_yaml import load_document
from conformance.contract.schemas import validate_or_raise
from conformance.errors import ConfigError

if TYPE_CHECKING:
    from conformance.report.results import TestResult


ACCEPTABLE = ("failed", "skipped", "inconclusive")


@dataclass(frozen=True)
class Deviation:
    """One entry: a whole requirement (`id`) or a single test (`test`, a node id), and the
    statuses it accepts (`accept`, default `failed`)."""

    id: str | None
    reason: str
    expires: date | None = None
    test: str | None = None
    accept: tuple[str, ...] = ("failed",)

    @property
    def label(self) -> str:
        return self.test or self.id or ""

    def expired(self, today: date) -> bool:
        return self.expires is not None and today >= self.expires

    def matches_test(self, nodeid: str) -> bool:
        """Node ids differ by rootdir (`conformance/suite/…` vs a site-packages path): match the tail."""
        if self.test is None:
            return False
        return nodeid == self.test or nodeid.endswith("/" + self.test.lstrip("/"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason}
        if self.expires is not None:
            out["expires"] = self.expires.isoformat()
        if self.accept != ("failed",):
            out["accept"] = list(self.accept)
        if self.test is not None:
            out["test"] = self.test
        return out


@dataclass(frozen=True)
class Baseline:
    path: str
    deviations: dict[str, Deviation]  # requirement entries by id

    tests: tuple[Deviation, ...] = ()  # single-test entries

    @property
    def entries(self) -> list[Deviation]:
        return [*self.deviations.values(), *self.tests]


def load_baseline(path: str | Path) -> Baseline:
    """Parse and validate; a bad file is one line naming it and the first bad field."""
    where = f"baseline {path}"
    raw = load_document(Path(path), "baseline")
    if isinstance(raw, dict) and isinstance(raw.get("deviations"), list):
        for entry in raw["deviations"]:  # YAML reads 2027-01-31 as a date; the schema wants text
            if isinstance(entry, dict) and isinstance(entry.get("expires"), date):
                entry["expires"] = entry["expires"].isoformat()
            if isinstance(entry, dict) and isinstance(entry.get("accept"), str):
                entry["accept"] = [entry["accept"]]
    validate_or_raise(raw, "baseline.schema.json", where)
    deviations: dict[str, Deviation] = {}
    tests: dict[str, Deviation] = {}
    for entry in raw["deviations"]:
        rid, test = entry.get("id"), entry.get("test")
        label = test or rid
        if rid is not None and get_requirement(rid) is None:
            raise ConfigError(f"{where}: unknown requirement id {rid!r} (not in the registry)")
        if label in (tests if test else deviations):
            raise ConfigError(f"{where}: {label} is listed twice")
        try:
            expires = date.fromisoformat(entry["expires"]) if "expires" in entry else None
        except ValueError:
            raise ConfigError(f"{where}: {label}: expires {entry['expires']!r} is not a date (YYYY-MM-DD)") from None
        deviation = Deviation(rid, entry["reason"], expires, test,
                              tuple(entry.get("accept") or ("failed",)))
        if test:
            tests[test] = deviation
        else:
            deviations[rid] = deviation
    return Baseline(str(path), deviations, tuple(tests.values()))


def apply_baseline(report: dict[str, Any], baseline: Baseline, today: date | None = None,
                   tests: list[TestResult] | None = None) -> dict[str, Any]:
    """Mark each listed requirement in `report` (in place) and add the report's `baseline` section.

    A requirement entry accepts the requirement's status when it is one of `accept`. Single-test
    entries accept only their tests: the requirement counts as accepted when every test of it that
    did not pass is accepted, so a new failure inside a listed requirement still fails the run.
    `tests` are the run's results (the report carries only node ids); without them only
    requirement entries can match.
    """
    from conformance.report.results import Results

    today = today or date.today()
    states: dict[str, list[str]] = {"known": [], "fixed": [], "expired": [], "unconfirmed": []}
    unlisted: list[str] = []
    matched: set[str] = set()
    by_requirement: dict[str, list[TestResult]] = {}
    for test in tests or []:
        by_requirement.setdefault(test.requirement, []).append(test)
    live_tests = [d for d in baseline.tests if not d.expired(today)]
    for d in baseline.tests:
        if d.expired(today) and any(d.matches_test(t.nodeid) for t in tests or []):
            states["expired"].append(d.label)
            matched.add(d.label)
    effective_rows = []
    for row in report["requirements"]:
        if row["status"] == "not_claimed":  # not run by design: never a deviation, never matched
            effective_rows.append(row)
            continue
        deviation = baseline.deviations.get(row["id"])
        effective = row
        state = None
        if deviation is not None:
            matched.add(deviation.label)
            if deviation.expired(today):
                state = "expired"
            elif row["status"] in deviation.accept:
                state = "known"
            elif row["status"] == "passed":
                state = "fixed"
            else:
                state = "unconfirmed"
            row["known_deviation"] = {**deviation.to_dict(), "state": state}
            states[state].append(row["id"])
        if state != "known" and row["status"] != "passed":
            accepted_by: list[Deviation] = []
            remaining = []
            for test in by_requirement.get(row["id"], []):
                if test.outcome in ("passed", "not_applicable"):
                    continue
                entry = next((d for d in live_tests if d.matches_test(test.nodeid)), None)
                if entry is not None:
                    matched.add(entry.label)
                if entry is not None and test.outcome in entry.accept:
                    accepted_by.append(entry)
                else:
                    remaining.append(test)
            if accepted_by and not remaining and row["status"] in ACCEPTABLE:
                state = "known"
                reasons = "; ".join(dict.fromkeys(d.reason for d in accepted_by))
                row["known_deviation"] = {"reason": reasons, "state": "known",
                                          "tests": sorted({d.label for d in accepted_by})}
                states["known"].append(row["id"])
        if state == "known":
            effective = {**row, "status": "passed"}
        if row["status"] == "failed" and state != "known":
            unlisted.append(row["id"])
        effective_rows.append(effective)
    present = {r["id"] for r in report["requirements"] if r["status"] != "not_claimed"}
    stale = [d.label for d in baseline.entries
             if d.label not in matched or (d.test is None and d.id not in present)]
    stale += [f"{rid} (passes now)" for rid in states["fixed"]]
    report["baseline"] = {
        "path": baseline.path,
        **states,
        "unlisted_failures": unlisted,
        "not_applicable": sorted(set(baseline.deviations) - present),
        "stale": stale,
        "verdict": Results.verdict(effective_rows),
    }
    return report


def gate_passes(report: dict[str, Any]) -> bool:
    """The CI gate (see `conformance.report.gate`): conformant once accepted deviations count as passed."""
    from conformance.report.gate import decide

    return decide(report).passes


def known_ids(report: dict[str, Any]) -> set[str]:
    return set(report.get("baseline", {}).get("known", []))


def summary_line(report: dict[str, Any]) -> str | None:
    """`baseline: 1 known deviation (HDR-2); fixed, remove from the baseline: MAP-5`."""
    section = report.get("baseline")
    if section is None:
        return None
    known = section["known"]
    parts = [f"{len(known)} known deviation{'s' if len(known) != 1 else ''}"
             + (f" ({', '.join(known)})" if known else "")]
    if section["unlisted_failures"]:
        parts.append(f"not in the baseline: {', '.join(section['unlisted_failures'])}")
    if section["fixed"]:
        parts.append(f"fixed, remove from the baseline: {', '.join(section['fixed'])}")
    if section["expired"]:
        parts.append(f"expired entries (count as failures): {', '.join(section['expired'])}")
    if section["unconfirmed"]:
        parts.append(f"listed but not run to a verdict: {', '.join(section['unconfirmed'])}")
    if section.get("not_applicable"):
        parts.append(f"listed but not applicable or not claimed: {', '.join(section['not_applicable'])}")
    stale = [s for s in section.get("stale", []) if s not in section.get("not_applicable", []) and not s.endswith(" (passes now)")]
    if stale:
        parts.append(f"stale entries (match nothing in this run): {', '.join(stale)}")
    return "baseline: " + "; ".join(parts)
