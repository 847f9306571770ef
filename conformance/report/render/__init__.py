"""Renderings of one JSON report: Markdown, HTML, SVG badge, JUnit XML, and a multi-gateway matrix.

Every renderer reads the report (already redacted and schema-valid) and nothing else, so a report
archived today renders the same tomorrow and no renderer can leak what the report does not hold.
The grouping below is shared so every rendering leads with the same thing: what is broken.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.errors import ConformanceError

# (key, heading): the order every rendering lists requirements in — what needs a look first.
SECTIONS = (
    ("failed", "Failed"),
    ("error", "Suite errors (a crash in the suite, not the target's fault)"),
    ("known", "Known deviations (baseline)"),
    ("fixed", "Fixed since the baseline (remove these entries)"),
    ("inconclusive", "Inconclusive"),
    ("skipped", "Skipped"),
    ("passed", "Passed"),
    ("not_claimed", "Not claimed (a scope this run does not certify)"),
)


MAX_PROBLEM_KINDS = 5


def problem_kinds(row: dict[str, Any]) -> list[str]:
    """A failed row's typed problems grouped by kind (`title`), each with how often it was seen and
    one example: `no Retry-After header (×12), e.g. POST /v1/… → 429: no Retry-After header`. Empty
    when there is a single problem, which the row's reason already says."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for problem in row.get("problems", []):
        groups.setdefault(problem.get("title") or problem["message"], []).append(problem)
    seen = sum(p.get("count", 1) for items in groups.values() for p in items)
    if seen < 2:
        return []
    lines = []
    for title, items in list(groups.items())[:MAX_PROBLEM_KINDS]:
        count = sum(p.get("count", 1) for p in items)
        lines.append(f"{title}{f' (×{count})' if count > 1 else ''}, e.g. {items[0]['message']}")
    if len(groups) > MAX_PROBLEM_KINDS:
        lines.append(f"… {len(groups) - MAX_PROBLEM_KINDS} more kind(s)")
    return lines


def load_report(path: str | Path) -> dict[str, Any]:
    """Read and validate a report; a missing, broken or foreign file is one line."""
    from conformance.report.json_report import validate_report

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConformanceError(f"report {path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConformanceError(f"report {path}: not a JSON report: {exc}") from None
    try:
        validate_report(data)
    except ConformanceError as exc:
        raise ConformanceError(f"report {path}: {str(exc).removeprefix('internal error: ')}") from None
    return data


def deviation_state(row: dict[str, Any]) -> str | None:
    return (row.get("known_deviation") or {}).get("state")


def section_of(row: dict[str, Any]) -> str:
    state = deviation_state(row)
    if state == "known":
        return "known"
    if state == "fixed":
        return "fixed"
    return row["status"]


def display_status(row: dict[str, Any]) -> str:
    """The status a reader sees: a failure the baseline accepts reads `known deviation`."""
    return {"known": "known deviation", "fixed": "passed (fixed)"}.get(section_of(row), row["status"])


def grouped(report: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """`[(key, heading, rows)]` in SECTIONS order, empty sections left out; MUSTs before SHOULDs."""
    out = []
    for key, heading in SECTIONS:
        rows = [r for r in report["requirements"] if section_of(r) == key]
        rows.sort(key=lambda r: r["level"] != "MUST")
        if rows:
            out.append((key, heading, rows))
    return out


def contract_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The claimed requirements of the contract (not practice, not unclaimed): what the verdict counts."""
    from conformance.report import grade

    return [r for r in report["requirements"] if not grade.is_practice(r) and grade.claimed(r)]


def basis_text(row: dict[str, Any]) -> str | None:
    """`contract [Rate limits] "…"` / `RFC 9110 §10.2.3 "…"` / `practice: … [CWE-209]`, for renderings."""
    basis = row.get("basis")
    if not isinstance(basis, dict):  # a report of an older suite version
        if row.get("rule"):
            return f"contract: {row['rule']}"
        return f"practice: {row['contract_silent']}" if row.get("contract_silent") else None
    kind = basis.get("kind")
    if kind == "contract":
        quote = f'[{basis["section"]}] "{basis["quote"]}"' if basis.get("quote") else "as the profile declares"
        return f"contract: {quote}"
    if kind == "rfc":
        invoked = basis.get("invoked_by") or {}
        text = f'{basis.get("rfc")}: "{basis.get("quote", "")}"'
        if invoked:
            text += f' (invoked by [{invoked.get("section")}] "{invoked.get("quote")}")'
        return "rfc: " + text
    return f"practice (beyond the contract): {basis.get('rationale', '')} [{basis.get('cite', '')}]"


def headline(report: dict[str, Any]) -> str:
    """`non-conformant: 11/14 requirements passed, 2 failed, 1 known deviation` (the contract's
    claimed requirements; practice is graded apart, see `grade.practice_line`)."""
    rows = contract_rows(report)
    passed = sum(1 for r in rows if r["status"] == "passed")
    parts = [f"{passed}/{len(rows)} requirements passed"]
    for key, label in (("failed", "failed"), ("error", "suite error"), ("known", "known deviation"),
                       ("inconclusive", "inconclusive"), ("skipped", "skipped")):
        n = sum(1 for r in rows if section_of(r) == key)
        if n:
            parts.append(f"{n} {label}" + ("s" if n != 1 and key in ("known", "error") else ""))
    return f"{report['verdict']}: " + ", ".join(parts)


def target_label(report: dict[str, Any]) -> str:
    target = report["target"]
    return "reference gateway" if target["reference"] else target["url"]
