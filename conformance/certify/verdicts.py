"""Verdicts per scope, by the suite's one rule (`Results.verdict`), never a second copy of it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from conformance.report.results import Results


def scope_verdicts(rows: list[dict[str, Any]], claimed: Iterable[str]) -> list[dict[str, Any]]:
    """`[{scope, claimed, verdict}]`: each scope's rows judged as a run of their own (an unclaimed
    scope has no verdict)."""
    claimed = set(claimed)
    out = []
    for scope in sorted({r["scope"] for r in rows} | claimed):
        mine = [r for r in rows if r["scope"] == scope]
        out.append({"scope": scope, "claimed": scope in claimed,
                    "verdict": Results.verdict(mine) if scope in claimed else None})
    return out
