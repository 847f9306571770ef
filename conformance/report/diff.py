"""`gateway-conformance diff old.json new.json`: what changed between two runs, regressions first.

A regression is a requirement that did not fail (or did not exist) and now fails or crashes — even
when a baseline accepts the new failure, the line says so; a fix is one that failed and now passes. Everything else that moved
(skipped ↔ passed, inconclusive, …) is listed after them, so a reviewer reads the bad news first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.report.grade import basis_kind, claims_text
from conformance.report.render import display_status, section_of

_BROKEN = ("failed", "error")


@dataclass
class Change:
    id: str
    level: str
    kind: str  # regression | fix | change
    old: str
    new: str
    reason: str

    def line(self) -> str:
        text = f"{self.kind.upper():<10} {self.id} ({self.level}): {self.old} → {self.new}"
        return text + (f": {self.reason}" if self.reason else "")

    def to_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


def diff_reports(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    before = {r["id"]: r for r in old["requirements"]}
    after = {r["id"]: r for r in new["requirements"]}
    changes: list[Change] = []
    for rid, row in after.items():
        prior = before.get(rid)
        old_key = _key(prior) if prior else "absent"
        new_key = _key(row)
        if old_key == new_key:
            moved = _terms(prior, row) if prior else ""
            if prior and moved:  # same status, but what it is held to changed (level, basis or scope)
                changes.append(Change(rid, row["level"], "change", display_status(prior), display_status(row), moved))
            continue
        old_status = prior["status"] if prior else "absent"
        if row["status"] in _BROKEN and old_status not in _BROKEN:
            kind = "regression"
        elif old_status in _BROKEN and row["status"] == "passed":
            kind = "fix"
        else:
            kind = "change"
        moved = _terms(prior, row) if prior else ""
        changes.append(Change(rid, row["level"], kind, display_status(prior) if prior else "absent",
                              display_status(row), "; ".join(p for p in (row["reason"], moved) if p)))
    for rid in before.keys() - after.keys():
        changes.append(Change(rid, before[rid]["level"], "change", display_status(before[rid]), "absent",
                              "not in the new report (requirement not applicable or filtered out)"))
    rank = {"regression": 0, "fix": 1, "change": 2}
    changes.sort(key=lambda c: (rank[c.kind], c.level != "MUST"))
    return changes


def _terms(old: dict[str, Any], new: dict[str, Any]) -> str:
    """`level SHOULD → MUST, basis contract → practice, scope core → billing` (empty: unchanged)."""
    parts = []
    for name, get in (("level", lambda r: r.get("level")), ("basis", basis_kind), ("scope", lambda r: r.get("scope"))):
        before, after = get(old), get(new)
        if before is not None and after is not None and before != after:
            parts.append(f"{name} {before} → {after}")
    return ", ".join(parts)


def _key(row: dict[str, Any]) -> str:
    """What counts as a change: the status, and whether a failure is an accepted known deviation."""
    return "known" if section_of(row) == "known" else row["status"]


def render_diff(old: dict[str, Any], new: dict[str, Any], changes: list[Change]) -> str:
    lines = [f"verdict: {old['verdict']} → {new['verdict']}"]
    old_claims, new_claims = claims_text(old), claims_text(new)
    if old_claims != new_claims:
        lines.append(f"claims: {old_claims or '(not recorded)'} → {new_claims or '(not recorded)'}")
    old_practice, new_practice = old.get("practice"), new.get("practice")
    if isinstance(new_practice, dict) and old_practice != new_practice:
        before = f"{old_practice['kept']} of {old_practice['total']}" if isinstance(old_practice, dict) else "(not graded)"
        lines.append(f"beyond the contract: {before} → {new_practice['kept']} of {new_practice['total']} kept")
    regressions = sum(1 for c in changes if c.kind == "regression")
    fixes = sum(1 for c in changes if c.kind == "fix")
    lines.append(f"{regressions} regression(s), {fixes} fix(es), {len(changes) - regressions - fixes} other change(s)")
    lines += [c.line() for c in changes]
    return "\n".join(lines)
