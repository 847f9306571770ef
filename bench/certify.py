"""Wall time, requests and peak RSS of the full default certification (bare `pytest --profile P`)."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

# Requirement id prefix -> the group the issue reports on.
GROUPS = {"ENV": "ENV/HDR/MAP", "HDR": "ENV/HDR/MAP", "MAP": "ENV/HDR/MAP", "SEC": "ENV/HDR/MAP",
          "CHG": "CHG", "RTY": "RTY", "FUZ": "FUZ", "PRB": "planes", "RT": "planes", "STR": "planes"}


def group_of(requirement_id: str) -> str:
    return GROUPS.get(requirement_id.split("-")[0], "other")


def _children_cpu_s() -> float:
    """CPU seconds of every finished descendant (pytest, its xdist workers, the reference gateway).

    Unlike wall time this barely moves when other jobs share the cores, so it is the number to
    compare across runs on a busy machine.
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def user_env() -> dict[str, str]:
    """This environment as a user's shell would have it: without the variables our own test
    harness sets (no bytecode writes, defects for the reference) that would change what is measured."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "GWC_REFERENCE_DEFECTS")}


def run_once(profile: str, workers: int | None) -> dict[str, Any]:
    """One `pytest` run as a user types it; returns wall time, verdict, request counts, RSS."""
    with tempfile.TemporaryDirectory(prefix="gwc-bench-") as tmp:
        report, probe = Path(tmp, "report.json"), Path(tmp, "probe.json")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "bench.probe",
                   "--profile", profile, "--report", str(report)]
        if workers:
            command += ["-n", str(workers)]
        env = user_env()
        env["GWC_BENCH_PROBE"] = str(probe)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        cpu_before = _children_cpu_s()
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        wall = time.perf_counter() - started
        cpu = _children_cpu_s() - cpu_before
        data = json.loads(report.read_text()) if report.exists() else {}
        probed = json.loads(probe.read_text()) if probe.exists() else {}
    if not data:
        raise RuntimeError(f"pytest --profile {profile} wrote no report (exit {done.returncode}): "
                           + (done.stdout + done.stderr)[-500:])
    return {"wall_s": wall, "cpu_s": cpu, "exit": done.returncode, "verdict": data.get("verdict"),
            "requests_sent": data.get("requests_sent"), "probe": probed}


def measure(profile: str, runs: int) -> dict[str, Any]:
    """Median of `runs` serial and `runs` `-n 2` runs (interleaved, so load drifts hit both alike)."""
    serial: list[dict[str, Any]] = []
    parallel: list[dict[str, Any]] = []
    run_once(profile, None)  # warm-up: bytecode caches, assert rewriting
    for _ in range(runs):
        serial.append(run_once(profile, None))
        parallel.append(run_once(profile, 2))
    last = serial[-1]
    by_requirement: dict[str, int] = last["probe"].get("requests", {})
    groups: dict[str, int] = {}
    for requirement, count in sorted(by_requirement.items()):
        groups[group_of(requirement)] = groups.get(group_of(requirement), 0) + count
    serial_s = statistics.median(r["wall_s"] for r in serial)
    parallel_s = statistics.median(r["wall_s"] for r in parallel)
    return {
        "profile": profile,
        "runs": runs,
        "serial_wall_s": round(serial_s, 2),
        "serial_wall_s_all": [round(r["wall_s"], 2) for r in serial],
        "n2_wall_s": round(parallel_s, 2),
        "n2_wall_s_all": [round(r["wall_s"], 2) for r in parallel],
        "n2_speedup": round(serial_s / parallel_s, 2) if parallel_s else None,
        "serial_cpu_s": round(statistics.median(r["cpu_s"] for r in serial), 2),
        "n2_cpu_s": round(statistics.median(r["cpu_s"] for r in parallel), 2),
        "verdicts": sorted({r["verdict"] for r in serial + parallel}),
        "requests_total": last["requests_sent"],
        "requests_by_group": groups,
        "requests_by_requirement": by_requirement,
        "peak_rss_mb": max(r["probe"].get("peak_rss_mb", 0.0) for r in serial),
    }


def collect_only(profile: str, runs: int) -> dict[str, Any]:
    """Median wall time and CPU of a bare `pytest --co` (start-up, plugin, collection): what a run
    costs before it sends a request, the yardstick the certification's own time is held to."""
    walls: list[float] = []
    cpus: list[float] = []
    command = [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", "--profile", profile]
    env = user_env()
    for i in range(runs + 1):  # the first is a warm-up (bytecode caches), not counted
        cpu_before = _children_cpu_s()
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"pytest --co --profile {profile} exited {done.returncode}: "
                               + (done.stdout + done.stderr)[-500:])
        if i:
            walls.append(wall)
            cpus.append(_children_cpu_s() - cpu_before)
    return {"wall_s": round(statistics.median(walls), 2), "wall_s_all": [round(w, 2) for w in walls],
            "cpu_s": round(statistics.median(cpus), 2)}
