"""Entry point of `python -m bench`: measure, compare with the goals, write results and the table."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import certify, fuzz, latency, overhead, ratelimit
from bench.render import render_latency, render_markdown

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results.json"
DOC = REPO / "docs" / "performance.md"

GOALS = {
    "certification_wall_s_max": 20.0,     # full default certification per profile, 2 cores
    "pyai_requests_max": 500,             # default pyai run
    "client_overhead_ratio_max": 1.3,     # GatewayClient / bare httpx
    "first_429_headroom": 1,              # first 429 within limit + 1 requests
    "n2_speedup_min": 1.6,                # -n 2 vs serial
    # issue 21: a bare run against the reference, and one against a gateway 150 ms away
    "bare_vs_collect_only_max": 3.0,      # bare `pytest` wall / bare `pytest --co` wall, each profile
    "bare_requests_max": 300,             # requests of a bare `pytest`, each profile
    "latency_ms": 150,
    "latency_wall_ratio_max": 1.5,        # default (concurrent) certification N ms away / 0 ms away
    "latency_requests_tolerance": 0.05,   # same requests as 0 ms away, +-5 %
}


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "loadavg_at_start": [round(x, 2) for x in load] if load else None}


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for profile, data in results["certification"].items():
        out.append({"goal": f"{profile}: serial certification <= {GOALS['certification_wall_s_max']:g} s",
                    "measured": data["serial_wall_s"], "met": data["serial_wall_s"] <= GOALS["certification_wall_s_max"]})
        out.append({"goal": f"{profile}: -n 2 at least {GOALS['n2_speedup_min']:g}x faster than serial",
                    "measured": data["n2_speedup"], "met": (data["n2_speedup"] or 0) >= GOALS["n2_speedup_min"]})
        co = results.get("collect_only", {}).get(profile)
        if co and co["wall_s"]:
            ratio = round(data["serial_wall_s"] / co["wall_s"], 2)
            out.append({"goal": f"{profile}: bare pytest <= {GOALS['bare_vs_collect_only_max']:g}x bare pytest --co",
                        "measured": f"{ratio} ({data['serial_wall_s']} s / {co['wall_s']} s)",
                        "met": ratio <= GOALS["bare_vs_collect_only_max"]})
        out.append({"goal": f"{profile}: bare pytest <= {GOALS['bare_requests_max']} requests",
                    "measured": data["requests_total"], "met": data["requests_total"] <= GOALS["bare_requests_max"]})
    for profile, data in results.get("latency", {}).items():
        far = next((r for r in data["rows"] if r["mode"] == "concurrent" and r["delay_ms"] == GOALS["latency_ms"]), None)
        if far is None or far["wall_vs_0ms"] is None or far["requests_vs_0ms"] is None:
            continue
        tolerance = GOALS["latency_requests_tolerance"]
        out.append({"goal": f"{profile}: {GOALS['latency_ms']} ms away <= {GOALS['latency_wall_ratio_max']:g}x "
                            f"its 0 ms time, requests +-{tolerance:.0%}",
                    "measured": f"{far['wall_vs_0ms']}x, requests {far['requests_vs_0ms']}x",
                    "met": far["wall_vs_0ms"] <= GOALS["latency_wall_ratio_max"]
                    and abs(far["requests_vs_0ms"] - 1) <= tolerance})
    if "pyai" in results["certification"]:
        total = results["certification"]["pyai"]["requests_total"]
        out.append({"goal": f"pyai: <= {GOALS['pyai_requests_max']} requests", "measured": total,
                    "met": total <= GOALS["pyai_requests_max"]})
    ratio = results["client_overhead"]["ratio"]
    out.append({"goal": f"client overhead <= {GOALS['client_overhead_ratio_max']:g}x bare httpx", "measured": ratio,
                "met": ratio <= GOALS["client_overhead_ratio_max"]})
    for profile, data in results["first_429"].items():
        if data.get("first_429_at") is not None:
            out.append({"goal": f"{profile}: first 429 within limit + {GOALS['first_429_headroom']}",
                        "measured": f"{data['first_429_at']} (limit {data['limit']})", "met": data["within_goal"]})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="certification runs per mode (median), default 3")
    parser.add_argument("--profiles", nargs="+", default=["pyai", "mindproxy"])
    parser.add_argument("--requests", type=int, default=200, help="requests per round for the client overhead")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write results/doc")
    parser.add_argument("--latency-ms", type=int, nargs="+", default=list(latency.DELAYS_MS),
                        help="the latency case: certify through a proxy holding each response this long (ms)")
    parser.add_argument("--only-latency", action="store_true",
                        help="measure the latency case only (print, write nothing)")
    args = parser.parse_args(argv)
    if args.only_latency:
        rows = {p: latency.measure(p, tuple(args.latency_ms)) for p in args.profiles}
        print(render_latency(rows))
        return 0

    from conformance.reference.gateway_process import ReferenceProcess

    results: dict[str, Any] = {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                               "machine": machine(), "goals": GOALS, "certification": {}, "first_429": {}}
    for profile in args.profiles:
        print(f"bench: certification --profile {profile} ({args.runs} runs serial + -n 2)", flush=True)
        results["certification"][profile] = certify.measure(profile, args.runs)
    results["collect_only"] = {}
    for profile in args.profiles:
        print(f"bench: bare pytest --co --profile {profile} ({args.runs} runs)", flush=True)
        results["collect_only"][profile] = certify.collect_only(profile, args.runs)
    for profile in args.profiles:
        with ReferenceProcess(profile) as gateway:
            print(f"bench: first 429 ({profile})", flush=True)
            results["first_429"][profile] = ratelimit.measure(gateway.url, gateway.config)
            if profile == args.profiles[0]:
                print("bench: client overhead", flush=True)
                results["client_overhead"] = overhead.measure(gateway.url, gateway.config, requests=args.requests)
                results["client_overhead"]["profile"] = profile
                print("bench: schemathesis CLI", flush=True)
                results["schemathesis_cli"] = fuzz.measure(gateway.url, gateway.config)
    results["latency"] = {}
    for profile in args.profiles:
        results["latency"][profile] = latency.measure(profile, tuple(args.latency_ms))
    print(render_latency(results["latency"]))
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    results["machine"]["loadavg_at_end"] = [round(x, 2) for x in load] if load else None
    results["goal_results"] = goals(results)
    text = json.dumps(results, indent=2) + "\n"
    if args.no_write:
        print(text)
    else:
        RESULTS.write_text(text, encoding="utf-8")
        DOC.write_text(render_markdown(results), encoding="utf-8")
        print(f"bench: wrote {RESULTS.relative_to(REPO)} and {DOC.relative_to(REPO)}")
    for goal in results["goal_results"]:
        print(f"  [{'met ' if goal['met'] else 'MISS'}] {goal['goal']}: {goal['measured']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
