"""The one rule that turns a report into an exit status.

`pytest --target …`, `gateway-conformance run` (the same pytest run) and `gateway-conformance gate
report.json` all ask `decide(report)`, so a deploy gate reads the same answer whichever it runs:

| verdict (after accepted known deviations) | exit |
|---|---|
| `conformant`                               | 0 |
| `non-conformant` (a MUST failed, observer findings included) | 1 |
| `incomplete` (a MUST skipped, inconclusive, errored or not fully selected) | 1 |

The verdict after accepted deviations is the report's `baseline.verdict` when a baseline was
applied, the honest `verdict` otherwise. `why` says in one line what decided it.

The verdict is the contract's (conformance.report.grade): requirements of suite practice never
decide it. They change the exit status only when practice is required — the run's
`--require-practice` (recorded in the report as `options.require_practice`) or `gate
--require-practice`: then a conformant run still exits 1 when a claimed practice MUST failed, or
was not shown kept (skipped, inconclusive, errored), unless the baseline accepts it; the closing
line names them. A practice SHOULD never changes the exit status, like a contract SHOULD.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.report import grade

EXIT_OK = 0
EXIT_NOT_CONFORMANT = 1  # non-conformant or incomplete: the gate is closed either way
MAX_IDS = 8


@dataclass(frozen=True)
class Decision:
    verdict: str      # the verdict after accepted known deviations
    exit_code: int
    why: str          # one line for the closing summary

    @property
    def passes(self) -> bool:
        return self.exit_code == EXIT_OK


def effective_verdict(report: dict[str, Any]) -> str:
    baseline = report.get("baseline")
    if isinstance(baseline, dict) and baseline.get("verdict"):
        return str(baseline["verdict"])
    return str(report["verdict"])


def practice_required(report: dict[str, Any]) -> bool:
    return bool((report.get("options") or {}).get("require_practice"))


def decide(report: dict[str, Any], require_practice: bool | None = None) -> Decision:
    """The exit status of a conformance run with this report, and why. `require_practice` None:
    as the run recorded it (`options.require_practice`)."""
    verdict = effective_verdict(report)
    required = practice_required(report) if require_practice is None else require_practice
    everything = report.get("requirements", [])
    rows = [r for r in grade.contract_musts(everything) if not _accepted(r)]
    accepted = [r["id"] for r in everything if _accepted(r)]
    if verdict == "conformant":
        why = "conformant: every applicable MUST passed"
        if accepted:
            plural = len(accepted) != 1
            why += f" once {len(accepted)} known deviation{'s' if plural else ''} ({_ids(accepted)}) {'are' if plural else 'is'} accepted"
        practice = [r for r in grade.practice_musts(everything) if not _accepted(r) and r["status"] != "passed"]
        if required and practice:
            failed = [r["id"] for r in practice if r["status"] == "failed"]
            unchecked = [r["id"] for r in practice if r["status"] != "failed"]
            parts = ([f"failed: {_ids(failed)}"] if failed else []) + ([f"not shown kept: {_ids(unchecked)}"] if unchecked else [])
            return Decision(verdict, EXIT_NOT_CONFORMANT,
                            f"{why}, but practice is required (--require-practice) and practice MUSTs were not kept: "
                            + "; ".join(parts))
        if required:
            why += "; every claimed practice MUST was kept (--require-practice)"
        return Decision(verdict, EXIT_OK, why)
    if verdict == "non-conformant":
        failed = [r for r in rows if r["status"] == "failed"]
        observed = [r["id"] for r in failed if any(str(t).endswith(" (observer)") for t in r.get("tests", []))]
        why = f"non-conformant: MUST failed: {_ids([r['id'] for r in failed])}"
        if observed:
            why += f" (seen by the whole-run observer: {_ids(observed)})"
        return Decision(verdict, EXIT_NOT_CONFORMANT, why)
    parts = []
    for status, label in (("error", "suite error"), ("inconclusive", "inconclusive"), ("skipped", "not checked")):
        ids = [r for r in rows if r["status"] == status]
        if ids:
            first = ids[0].get("reason") or status
            parts.append(f"{label}: {_ids([r['id'] for r in ids])} ({ids[0]['id']}: {_short(first)})")
    why = "incomplete: " + ("; ".join(parts) if parts else "no MUST was checked")
    return Decision(verdict, EXIT_NOT_CONFORMANT, why)


def _accepted(row: dict[str, Any]) -> bool:
    deviation = row.get("known_deviation")
    return isinstance(deviation, dict) and deviation.get("state") == "known"


def _ids(ids: list[str]) -> str:
    shown = ", ".join(ids[:MAX_IDS])
    return shown + (f" and {len(ids) - MAX_IDS} more" if len(ids) > MAX_IDS else "")


def _short(text: str, limit: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
