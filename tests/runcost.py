"""What the self-tests' child runs cost, in numbers that do not depend on the machine's load.

Why: `pytest tests` is mostly whole-suite runs in child processes (the kill matrix and a few dozen
others); its wall time swings with whatever else the machine runs, while the number of suite runs
and the CPU seconds they use do not. Each suite run a self-test starts adds one line to a ledger
(a file named by GWC_SELFTEST_LEDGER, shared by the xdist workers); the session's last lines give
the totals, so a change that adds or shares runs shows in the next `pytest tests`.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LEDGER_ENV = "GWC_SELFTEST_LEDGER"


def children_cpu_s() -> float:
    """CPU seconds of every child this process has reaped so far (and their reaped children)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def record(kind: str, runs: int, cpu_s: float) -> None:
    """Add `runs` child runs of `kind` costing `cpu_s` to the ledger (nothing when there is none)."""
    path = os.environ.get(LEDGER_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as ledger:
        fcntl.flock(ledger, fcntl.LOCK_EX)
        ledger.write(json.dumps({"kind": kind, "runs": runs, "cpu_s": round(cpu_s, 2)}) + "\n")


@contextmanager
def measured(kind: str) -> Iterator[None]:
    """Record one run of `kind`: the CPU its child used, read from this process's reaped children
    (a child reaped meanwhile by another thread of this process would count here too: the figure
    is an estimate, the run count is exact)."""
    before = children_cpu_s()
    try:
        yield
    finally:
        record(kind, 1, children_cpu_s() - before)


def totals(path: Path) -> dict[str, tuple[int, float]]:
    """Runs and CPU seconds per kind, from the ledger."""
    out: dict[str, tuple[int, float]] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        runs, cpu = out.get(entry["kind"], (0, 0.0))
        out[entry["kind"]] = (runs + entry["runs"], cpu + entry["cpu_s"])
    return out
