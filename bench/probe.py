"""A pytest plugin the benchmark loads into the certification run (`-p bench.probe`).

Why a plugin and not the report: the report lists tests per requirement but not their request
counts, and it cannot know the pytest process's own peak RSS. This reads both where they are —
the per-test result records our plugin already attaches to each test report (also under xdist,
where they reach the controller) — and writes them to $GWC_BENCH_PROBE as JSON.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from typing import Any

import pytest

from conformance.runner.stash import RESULT_PROPERTY

_requests: dict[str, int] = {}
_tests: dict[str, int] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, value in report.user_properties:
        if name == RESULT_PROPERTY:
            requirement = value["requirement"]
            _requests[requirement] = _requests.get(requirement, 0) + int(value.get("requests") or 0)
            _tests[requirement] = _tests.get(requirement, 0) + 1


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("GWC_BENCH_PROBE")
    if not path or hasattr(session.config, "workerinput"):
        return
    data: dict[str, Any] = {"requests": _requests, "tests": _tests, "peak_rss_mb": round(_peak_rss_mb(), 1)}
    with open(path, "w", encoding="utf-8") as out:
        json.dump(data, out)
