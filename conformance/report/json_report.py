"""The JSON conformance report (SPEC.md "Report"), validated against its schema before it is written."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from conformance import __version__
from conformance.contract.profiles import Profile
from conformance.contract.schemas import describe, first_error
from conformance.errors import ConformanceError
from conformance.report import grade
from conformance.report.results import Results, not_covered

# The report format's version (schemas/report.schema.json `version`): 2 added per-requirement
# `basis` and `scope`, the `not_claimed` status, and top-level `claims` and `practice`.
REPORT_VERSION = 2


def build_report(
    results: Results,
    *,
    profile: Profile,
    target_url: str,
    reference: bool,
    started_at: datetime,
    duration_s: float,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    rows = results.requirements()
    claims = results.claims.to_dict() if results.claims is not None else {"claimed": [], "not_claimed": []}
    return {
        "report_version": REPORT_VERSION,
        "suite": {"name": "gateway-conformance", "version": __version__},
        "profile": profile.summary(),
        "target": {"url": target_url, "reference": reference},
        "started_at": started_at.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "duration_s": round(duration_s, 3),
        "requests_sent": results.requests_sent,
        "verdict": Results.verdict(rows),
        "summary": results.summary(rows),
        "claims": claims,
        "practice": grade.practice_grade(rows),
        "requirements": rows,
        "not_covered": not_covered(profile),
        "options": options or {},
    }


def validate_report(report: dict[str, Any]) -> None:
    error = first_error(report, "report.schema.json")
    if error is not None:
        raise ConformanceError(f"internal error: the report does not match report.schema.json: {describe(error)}")


def write_report(report: dict[str, Any], path: str | Path) -> Path:
    validate_report(report)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target
