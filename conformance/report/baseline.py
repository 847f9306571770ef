"""Known deviations (`--baseline known-deviations.yaml`): accept the failures a team already knows
about without hiding a new one.

```yaml
deviations:
  - id: HDR-2
    reason: 429s come from the CDN, which drops Retry-After (GW-123)
    expires: 2027-01-31        # optional: from this day on the entry counts as not listed
```

A listed requirement that fails is `known` (it does not fail the run); one that passes is `fixed`
(the entry can go); an expired entry is `expired` and counts as not listed; a listed requirement
that was skipped or inconclusive is `unconfirmed`. The report's verdict stays honest: the baseline
adds its own `baseline.verdict`, the verdict with known deviations counted as passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from conformance.errors import ConfigError
from conformance.contract.requirements import get as get_requirement
from conformance.contract.safe_yaml import load_document
from conformance.contract.schemas import validate_or_raise


@dataclass(frozen=True)
class Deviation:
    id: str
    reason: str
    expires: date | None = None

    def expired(self, today: date) -> bool:
        return self.expires is not None and today >= self.expires

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason}
        if self.expires is not None:
            out["expires"] = self.expires.isoformat()
        return out


@dataclass(frozen=True)
class Baseline:
    path: str
    deviations: dict[str, Deviation]


def load_baseline(path: str | Path) -> Baseline:
    """Parse and validate; a bad file is one line naming it and the first bad field."""
    where = f"baseline {path}"
    raw = load_document(Path(path), "baseline")
    if isinstance(raw, dict) and isinstance(raw.get("deviations"), list):
        for entry in raw["deviations"]:  # YAML reads 2027-01-31 as a date; the schema wants text
            if isinstance(entry, dict) and isinstance(entry.get("expires"), date):
                entry["expires"] = entry["expires"].isoformat()
    validate_or_raise(raw, "baseline.schema.json", where)
    deviations: dict[str, Deviation] = {}
    for entry in raw["deviations"]:
        rid = entry["id"]
        if get_requirement(rid) is None:
            raise ConfigError(f"{where}: unknown requirement id {rid!r} (not in the registry)")
        if rid in deviations:
            raise ConfigError(f"{where}: {rid} is listed twice")
        try:
            expires = date.fromisoformat(entry["expires"]) if "expires" in entry else None
        except ValueError:
            raise ConfigError(f"{where}: {rid}: expires {entry['expires']!r} is not a date (YYYY-MM-DD)") from None
        deviations[rid] = Deviation(rid, entry["reason"], expires)
    return Baseline(str(path), deviations)


def apply_baseline(report: dict[str, Any], baseline: Baseline, today: date | None = None) -> dict[str, Any]:
    """Mark each listed requirement in `report` (in place) and add the report's `baseline` section."""
    from conformance.report.results import Results

    today = today or date.today()
    states: dict[str, list[str]] = {"known": [], "fixed": [], "expired": [], "unconfirmed": []}
    unlisted: list[str] = []
    effective_rows = []
    for row in report["requirements"]:
        deviation = baseline.deviations.get(row["id"])
        effective = row
        if deviation is not None:
            if deviation.expired(today):
                state = "expired"
            elif row["status"] == "failed":
                state = "known"
                effective = {**row, "status": "passed"}
            elif row["status"] == "passed":
                state = "fixed"
            else:
                state = "unconfirmed"
            row["known_deviation"] = {**deviation.to_dict(), "state": state}
            states[state].append(row["id"])
        if row["status"] == "failed" and (deviation is None or state == "expired"):
            unlisted.append(row["id"])
        effective_rows.append(effective)
    report["baseline"] = {
        "path": baseline.path,
        **states,
        "unlisted_failures": unlisted,
        "not_applicable": sorted(set(baseline.deviations) - {r["id"] for r in report["requirements"]}),
        "verdict": Results.verdict(effective_rows),
    }
    return report


def gate_passes(report: dict[str, Any]) -> bool:
    """The CI gate: conformant, or conformant once the listed (unexpired) deviations are accepted."""
    if report["verdict"] == "conformant":
        return True
    return report.get("baseline", {}).get("verdict") == "conformant"


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
    if section["not_applicable"]:
        parts.append(f"listed but not applicable: {', '.join(section['not_applicable'])}")
    return "baseline: " + "; ".join(parts)
