"""The verdict of the contract, the practice grade beside it, and the claims line: pure functions of
report rows, shared by the run, the report, `gate`, the baseline and every rendering.

- The verdict is the contract's: `conformant` iff every claimed MUST whose basis is `contract` or
  `rfc` passed. A requirement of a scope the target does not claim (`not_claimed`) is no part of it.
- `practice` requirements (the contract is silent; the suite checks good practice) form their own
  grade, "beyond the contract: N of M kept"; they change the exit status only when the run asked
  for `--require-practice` (conformance.report.gate).

A row without a `basis` (a report of an older suite version) counts as the contract's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

NOT_CLAIMED = "not_claimed"


def basis_kind(row: dict[str, Any]) -> str:
    basis = row.get("basis")
    return str(basis.get("kind", "contract")) if isinstance(basis, dict) else "contract"


def is_practice(row: dict[str, Any]) -> bool:
    return basis_kind(row) == "practice"


def claimed(row: dict[str, Any]) -> bool:
    return row.get("status") != NOT_CLAIMED


def contract_musts(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows that decide the verdict."""
    return [r for r in rows if r.get("level") == "MUST" and not is_practice(r) and claimed(r)]


def practice_musts(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows `--require-practice` adds to the exit rule."""
    return [r for r in rows if r.get("level") == "MUST" and is_practice(r) and claimed(r)]


def verdict(rows: Iterable[dict[str, Any]]) -> str:
    musts = contract_musts(rows)
    if any(r["status"] == "failed" for r in musts):
        return "non-conformant"
    if any(r["status"] != "passed" for r in musts):
        return "incomplete"
    return "conformant"


def practice_grade(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """`{kept, total, failed: [ids]}` over the claimed practice requirements (both levels)."""
    practice = [r for r in rows if is_practice(r) and claimed(r)]
    return {
        "kept": sum(1 for r in practice if r["status"] == "passed"),
        "total": len(practice),
        "failed": [r["id"] for r in practice if r["status"] == "failed"],
    }


def practice_line(report: dict[str, Any]) -> str | None:
    """`beyond the contract: 9 of 11 kept (failed: CHG-1, SEC-1)`, or None when nothing is practice."""
    grade = report.get("practice")
    if not isinstance(grade, dict) or not grade.get("total"):
        return None
    text = f"beyond the contract: {grade['kept']} of {grade['total']} kept"
    if grade.get("failed"):
        text += f" (failed: {', '.join(grade['failed'])})"
    if (report.get("options") or {}).get("require_practice"):
        text += " — required (--require-practice)"
    return text


def practice_failures(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(id, "rationale [cite]") of each failed practice requirement, for the renderings."""
    out = []
    for row in report.get("requirements", []):
        if is_practice(row) and row.get("status") == "failed":
            basis = row.get("basis") or {}
            out.append((row["id"], f"{basis.get('rationale', '')} [{basis.get('cite', '')}]".strip()))
    return out


def claims_text(report: dict[str, Any]) -> str:
    """`core, billing, realtime, management; not claimed: upstream` (empty for an older report)."""
    claims = report.get("claims")
    if not isinstance(claims, dict):
        return ""
    text = ", ".join(claims.get("claimed", []))
    if claims.get("not_claimed"):
        text += f"; not claimed: {', '.join(claims['not_claimed'])}"
    return text


def verdict_line(report: dict[str, Any], verdict_text: str | None = None) -> str:
    """`pyai: conformant — core, billing, realtime, management; not claimed: upstream`."""
    text = f"{report['profile']['id']}: {verdict_text or report['verdict']}"
    claims = claims_text(report)
    return text + (f" — {claims}" if claims else "")
