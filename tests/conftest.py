"""Helpers for the suite's own tests: run the conformance suite as a user would and read its report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ["pytester"]


def pytest_configure(config: pytest.Config) -> None:
    """The suite runs these tests start are sessions of their own: under `-n 2` (tests/pytest.ini)
    they must not inherit the worker's PYTEST_XDIST_* variables and believe they are xdist workers
    (pytest-benchmark, for one, then prints a warning line into output we assert on)."""
    for name in [k for k in os.environ if k.startswith("PYTEST_XDIST_")]:
        os.environ.pop(name)


@dataclass
class SuiteRun:
    returncode: int
    output: str
    report: dict[str, Any] | None

    def status(self, requirement_id: str) -> str | None:
        assert self.report is not None, self.output[-3000:]
        for row in self.report["requirements"]:
            if row["id"] == requirement_id:
                return row["status"]
        return None

    def failed(self, level: str | None = None) -> set[str]:
        assert self.report is not None, self.output[-3000:]
        return {r["id"] for r in self.report["requirements"]
                if r["status"] == "failed" and (level is None or r["level"] == level)}

    @property
    def verdict(self) -> str:
        assert self.report is not None, self.output[-3000:]
        return self.report["verdict"]


def run_suite(tmp_path: Path, *args: str, defects: tuple[str, ...] = (), env: dict[str, str] | None = None,
              timeout: float = 240, cwd: Path | None = None) -> SuiteRun:
    """`pytest conformance/suite …` in a subprocess, with a report; returns code, output and report."""
    report = tmp_path / f"report-{len(list(tmp_path.glob('report-*.json')))}.json"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REPO / "conformance" / "suite"),
               "--report", str(report), *args]
    for defect in defects:
        command += ["--reference-defect", defect]
    # Inner runs must not inherit: defects meant for another run, a bytecode switch that makes every
    # start recompile ~300 modules, or the CI step summary (each inner run would append to it).
    inherited = ("GWC_REFERENCE_DEFECTS", "GWC_REFERENCE_VARIANTS", "PYTHONDONTWRITEBYTECODE", "GITHUB_STEP_SUMMARY")
    full_env = {k: v for k, v in os.environ.items() if k not in inherited}
    full_env.update(env or {})
    done = subprocess.run(command, cwd=cwd or REPO, env=full_env, capture_output=True, text=True, timeout=timeout)
    data = json.loads(report.read_text()) if report.exists() else None
    return SuiteRun(done.returncode, done.stdout + done.stderr, data)


@pytest.fixture
def suite(tmp_path: Path):
    def runner(*args: str, **kwargs: Any) -> SuiteRun:
        return run_suite(tmp_path, *args, **kwargs)

    return runner
