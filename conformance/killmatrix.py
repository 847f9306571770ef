"""The mutation kill matrix: run the whole suite against the reference gateway once clean and once
per (defect, profile) pair, and show which requirements each defect makes fail; and its other half,
once per (clean variant, profile) pair and once with every variant on, which must fail nothing.

Why: a requirement test that no defect can make fail proves nothing, and a suite that fails a
correct gateway doing things differently (a clean variant, `variants.yaml`) cannot be trusted.
The matrix is computed from the registry (`requirements.yaml`) and the catalogues (`defects.yaml`,
`variants.yaml`), so a requirement, defect or variant added anywhere is picked up without touching
this module.

Each run is the full suite (not `-k`), so collateral failures are seen. Runs go to a pool of
processes forked from a server that has already imported pytest and the suite's plugins, which
saves most of pytest's start-up per run; each run starts its own reference gateway.

    python -m conformance.killmatrix [--write docs/kill-matrix.md] [--jobs N] [--profile P] [--defect D] [--variant V]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable, MutableMapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance import forkrun
from conformance.contract.profiles import load_profile
from conformance.contract.requirements import Requirement, registry
from conformance.contract.resources import PROFILES_DIR, SUITE_DIR
from conformance.reference.defects import DefectInfo, load_catalogue
from conformance.reference.variants import ALL as ALL_VARIANTS
from conformance.reference.variants import alone, family_groups
from conformance.reference.variants import load_catalogue as load_variants
from conformance.servers import zygote_client

GROUP_SEPARATOR = "+"  # a variant job naming several variants: "reset_rfc3339+retry_after_rfc850"

# A hang guard per suite run, not a speed test: on a loaded machine a run of the matrix (8 beside
# each other on 2 cores) took minutes, and a run past this limit makes the whole matrix error.
RUN_TIMEOUT_S = 900.0


def shipped_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


MATRIX_FUZZ_EXAMPLES = 5
# Every MUST needs this many defects that kill it as catalogued, on every profile it applies to:
# one defect proves the test can fail one way; a second that breaks the promise differently
# (absent vs malformed, body vs header, itemised charge vs unitemised fee) proves it checks the
# promise rather than one symptom.
MIN_MUST_KILLERS = 2
FAILED_TEST = re.compile(r"^FAILED \S*::(\S+?)(?: - |\s*$)", re.M)  # pytest's short summary lines
# MAP-3 is one test per catalogued code; the report has one status for the requirement, so the
# matrix reads the per-code outcome from pytest's summary to prove each code's case can fail.
PER_CODE_TEST = "test_code_produced[{code}]"
REFERENCE_KEY = re.compile(r"(sk-ref-|pk_ref_)(?:[a-z-]+-)?[0-9a-f]{32}")  # the reference gateway's key shapes (readable_keys adds a label)


@dataclass(frozen=True)
class Job:
    profile: str
    defect: str | None  # None: the clean reference gateway (or a variant run)
    variant: str | None = None  # a clean variant, a group "a+b", or "all" (every variant that keeps the verdict)

    @property
    def variants(self) -> tuple[str, ...]:
        return tuple(self.variant.split(GROUP_SEPARATOR)) if self.variant else ()

    @property
    def name(self) -> str:
        return self.defect or (f"variant-{self.variant}" if self.variant else "clean")

    @property
    def is_clean(self) -> bool:
        return self.defect is None and self.variant is None


@dataclass
class Run:
    job: Job
    returncode: int
    statuses: dict[str, str]  # requirement id -> status, from the report
    levels: dict[str, str]
    verdict: str | None
    output: str = ""
    elapsed_s: float = 0.0
    cpu_s: float = 0.0  # CPU seconds of the run and the gateway/provider it started (0: not measured)
    unexplained: set[str] = field(default_factory=set)  # failed without a reason or evidence
    leaked: bool = False  # a reference key in the terminal output or the report
    failed_tests: set[str] = field(default_factory=set)  # test names (with parameters) pytest reported FAILED
    # Why each failed or errored requirement did: its report row's reason (and first problem), so a
    # cell failing for a reason nobody expected shows it, not only the last lines of a long output.
    reasons: dict[str, str] = field(default_factory=dict)

    def failed(self, level: str | None = None) -> set[str]:
        return {r for r, s in self.statuses.items() if s == "failed" and (level is None or self.levels[r] == level)}

    @property
    def errored(self) -> set[str]:
        return {r for r, s in self.statuses.items() if s == "error"}


def variant_jobs(profile_id: str, each_alone: bool = False) -> list[Job]:
    """The other half on one profile: `all`, then the other members of each family in groups, then
    the variants with their own verdict alone: every variant runs, in len(families)+2 suite runs
    rather than one per variant. `each_alone` adds one run per variant by itself."""
    groups = family_groups(profile_id)
    jobs = [Job(profile_id, None, ALL_VARIANTS)]
    jobs += [Job(profile_id, None, GROUP_SEPARATOR.join(group)) for group in groups[1:] if group]
    jobs += [Job(profile_id, None, name) for name in alone(profile_id)]
    if each_alone:
        jobs += [Job(profile_id, None, name) for name in groups[0] + [n for g in groups[1:] for n in g]
                 if Job(profile_id, None, name) not in jobs]
    return jobs


def plan(profiles: Iterable[str] | None = None, defects: Iterable[str] | None = None,
         variants: Iterable[str] | None = None, variants_alone: bool = False) -> list[Job]:
    """Clean runs first, then every defect on every profile it applies to, then the clean variants
    (`variant_jobs`). Naming defects (or variants) runs only those."""
    catalogue = load_catalogue()
    variant_catalogue = load_variants()
    profiles = list(profiles or shipped_profiles())
    everything = defects is None and variants is None
    wanted = list(defects) if defects is not None else (list(catalogue) if everything else [])
    jobs = [Job(p, None) for p in profiles] if everything else []
    for name in wanted:
        info = catalogue[name]
        jobs += [Job(p, name) for p in profiles if info.applies_to(p)]
    if variants is None and (everything or variants_alone):
        for p in profiles:
            jobs += variant_jobs(p, variants_alone)
        return jobs
    for name in variants or []:
        if name == ALL_VARIANTS:
            jobs += [Job(p, None, ALL_VARIANTS) for p in profiles]
            continue
        vinfo = variant_catalogue[name]
        jobs += [Job(p, None, name) for p in profiles if vinfo.applies_to(p)]
    return jobs


def expected_verdict(job: Job) -> str:
    """What a variant run must conclude: the clean reference's verdict (conformant, or incomplete
    while a requirement that applies is still planned) unless the catalogue names its own."""
    catalogue = load_variants()
    named = (catalogue[name].verdict for name in job.variants if name in catalogue)
    verdicts = {verdict for verdict in named if verdict is not None}
    if len(verdicts) == 1:
        return verdicts.pop()
    planned = [r for r in registry().values() if r.planned and r.applies_to(load_profile(job.profile))]
    return "incomplete" if planned else "conformant"


def suite_args(job: Job, report: Path) -> list[str]:
    args = ["-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(SUITE_DIR), "--report", str(report),
            "--profile", job.profile]
    if job.defect:
        args += ["--reference-defect", job.defect]
        info = load_catalogue()[job.defect]
        if not any(rid.startswith("FUZ") for rid in (*info.kills, *info.may_also_fail)):
            # Fuzzing finds what no targeted test sends; a defect aimed at a targeted test needs only
            # enough of it to show collateral damage, and the matrix runs 60-odd suites.
            args += ["--fuzz-examples", str(MATRIX_FUZZ_EXAMPLES)]
    for name in job.variants:
        args += ["--reference-variant", name]
    if job.variant:
        if job.variant != ALL_VARIANTS:
            # A variant alone needs enough fuzzing to meet it; the all-variants run fuzzes in full.
            args += ["--fuzz-examples", str(MATRIX_FUZZ_EXAMPLES)]
    return args


def _run_in_child(job: Job, workdir: str, zygote: str | None = None) -> Run:
    """Runs in a pool process (forked, plugins already imported): one full suite run, one report;
    its gateway and provider forked from the matrix's zygote (`zygote`, a socket path) if it has one."""
    started = time.monotonic()
    report = Path(workdir) / f"{job.profile}-{job.name}.json"
    log = str(Path(workdir) / f"{job.profile}-{job.name}.log")
    os.environ.pop("GWC_REFERENCE_DEFECTS", None)
    os.environ.pop("GWC_REFERENCE_VARIANTS", None)
    _export_zygote(os.environ, zygote)
    code = forkrun.pytest_here(suite_args(job, report), log, log)
    return collect(job, code, report, Path(log).read_text(errors="replace"), time.monotonic() - started, _cpu_s())


def _cpu_s() -> float:
    """CPU seconds this process and its reaped children used (a forked pool process starts at zero),
    with the servers the zygote forked for it (the zygote reaped those, so RUSAGE_CHILDREN misses them)."""
    return forkrun.cpu_s() + zygote_client.reaped_cpu_s()


def _export_zygote(env: MutableMapping[str, str], zygote: str | None) -> None:
    """Name the matrix's zygote for `ServerProcess` (or none: a run never uses a stale one)."""
    if zygote:
        env[zygote_client.ZYGOTE_ENV] = zygote
    else:
        env.pop(zygote_client.ZYGOTE_ENV, None)


def _start_zygote() -> zygote_client.Zygote | None:
    """One zygote for the whole matrix: every run's gateway and provider fork from it instead of
    re-importing the server stack (~0.7 CPU-s a run). None when it cannot start: runs then Popen."""
    try:
        return zygote_client.Zygote().start()
    except zygote_client.ZygoteUnavailable as exc:
        print(f"kill matrix: {exc}; servers start as fresh processes", file=sys.stderr)
        return None


def _run_subprocess(job: Job, workdir: str, zygote: str | None = None) -> Run:
    """The portable way (no fork server): a fresh `python -m pytest` per run."""
    import subprocess

    started = time.monotonic()
    report = Path(workdir) / f"{job.profile}-{job.name}.json"
    env = {k: v for k, v in os.environ.items() if k not in ("GWC_REFERENCE_DEFECTS", "GWC_REFERENCE_VARIANTS")}
    _export_zygote(env, zygote)
    done = subprocess.run([sys.executable, "-m", "pytest", *suite_args(job, report)], env=env,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    # No CPU figure here: runs in threads share one RUSAGE_CHILDREN, a difference would mix them.
    return collect(job, done.returncode, report, done.stdout + done.stderr, time.monotonic() - started)


def collect(job: Job, code: int, report: Path, output: str, elapsed: float = 0.0, cpu: float = 0.0) -> Run:
    """A finished suite run as the matrix judges it: from its exit status, report file and output
    (also for a run made elsewhere, such as the self-tests' shared clean run)."""
    data: dict[str, Any] | None = json.loads(report.read_text()) if report.exists() else None
    rows = data["requirements"] if data else []
    unexplained = {r["id"] for r in rows if r["status"] == "failed" and not (r.get("reason") and r.get("evidence"))}
    leaked = bool(REFERENCE_KEY.search(output) or (report.exists() and REFERENCE_KEY.search(report.read_text())))
    failed_tests = set(FAILED_TEST.findall(output))
    reasons = {r["id"]: _why(r) for r in rows if r["status"] in ("failed", "error")}
    return Run(job, code, {r["id"]: r["status"] for r in rows}, {r["id"]: r["level"] for r in rows},
               data["verdict"] if data else None, output[-4000:], elapsed, cpu, unexplained, leaked, failed_tests,
               reasons)


def _why(row: dict[str, Any]) -> str:
    """A report row's reason, then its tests' first problem, on one line each, at most ~1500 characters."""
    lines = [str(row.get("reason") or "")]
    for problem in (row.get("problems") or [])[:3]:
        lines.append(str(problem.get("message") if isinstance(problem, dict) else problem))
    return "\n    ".join(line for line in lines if line)[:1500]


def explain(run: Run, requirements: Iterable[str]) -> str:
    """Each named requirement's status and why, one block each: for a matrix assertion's message."""
    return "\n".join(f"  {rid} {run.statuses.get(rid, 'not run')}: {run.reasons.get(rid, '')}" for rid in sorted(requirements))


def run_all(jobs: list[Job], workers: int | None = None) -> list[Run]:
    """Every job, `workers` at a time (default: four per core: a suite run spends much of its
    time waiting — Retry-After, paced streams, timeouts — not computing)."""
    workers = max(1, workers or 4 * (os.cpu_count() or 1))
    zygote = _start_zygote()
    path = zygote.socket_path if zygote else None
    try:
        with tempfile.TemporaryDirectory(prefix="gwc-killmatrix-") as workdir:
            if forkrun.available():
                with ProcessPoolExecutor(workers, mp_context=forkrun.server(), max_tasks_per_child=1) as pool:
                    futures = [pool.submit(_run_in_child, job, workdir, path) for job in jobs]
                    return [f.result(timeout=RUN_TIMEOUT_S) for f in futures]
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(workers) as pool:
                return list(pool.map(lambda job: _run_subprocess(job, workdir, path), jobs))
    finally:
        if zygote is not None:
            zygote.stop()


# --- judging ------------------------------------------------------------------------------------

@dataclass
class Matrix:
    """The runs, judged against the registry and the catalogue."""

    runs: list[Run]
    elapsed_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.problems = judge(self.runs)

    def run(self, profile: str, defect: str | None, variant: str | None = None) -> Run | None:
        return next((r for r in self.runs if r.job == Job(profile, defect, variant)), None)

    @property
    def cpu_s(self) -> float:
        """CPU seconds of every run together: what the matrix costs, whatever the machine's load."""
        return sum(r.cpu_s for r in self.runs)

    @property
    def profiles(self) -> list[str]:
        return sorted({r.job.profile for r in self.runs})


def covered(requirement: Requirement, profile_id: str) -> bool:
    """Applicable to the profile and tested on this branch (not `planned`)."""
    return not requirement.planned and requirement.applies_to(load_profile(profile_id))


def expected_kills(info: DefectInfo, profile_id: str) -> set[str]:
    """The catalogued kills this branch can show on this profile (planned ids have no test yet)."""
    reqs = registry()
    return {k for k in info.kills if k in reqs and covered(reqs[k], profile_id)}


def proven_killers(runs: Iterable[Run], profile_id: str) -> dict[str, list[str]]:
    """Requirement id → the defects that kill it on `profile_id` as catalogued (listed in `kills`
    and failed in the run; collateral failures do not count as proof)."""
    catalogue = load_catalogue()
    killers: dict[str, list[str]] = {}
    for run in runs:
        if run.job.profile != profile_id or run.job.defect is None or run.verdict is None:
            continue
        for rid in sorted(expected_kills(catalogue[run.job.defect], profile_id) & run.failed()):
            killers.setdefault(rid, []).append(run.job.defect)
    return killers


def catalogued_killers(profile_id: str) -> dict[str, list[str]]:
    """Requirement id → the defects whose `kills` name it on `profile_id` (the catalogue's claim,
    no runs: the cheap check the self-test makes before the matrix confirms it)."""
    killers: dict[str, list[str]] = {}
    for name, info in load_catalogue().items():
        if info.applies_to(profile_id):
            for rid in sorted(expected_kills(info, profile_id)):
                killers.setdefault(rid, []).append(name)
    return killers


def code_killers(runs: Iterable[Run], profile_id: str) -> dict[str, list[str]]:
    """Catalogued code → the defects whose run failed MAP-3's case for that code on `profile_id`."""
    killers: dict[str, list[str]] = {c.code: [] for c in load_profile(profile_id).codes}
    for run in runs:
        if run.job.profile == profile_id and run.job.defect is not None:
            for code, names in killers.items():
                if PER_CODE_TEST.format(code=code) in run.failed_tests:
                    names.append(run.job.defect)
    return killers


def weak_musts(killers: dict[str, list[str]], profile_id: str) -> dict[str, list[str]]:
    """The MUSTs covered on `profile_id` with fewer than MIN_MUST_KILLERS killing defects."""
    return {rid: killers.get(rid, []) for rid, r in registry().items()
            if covered(r, profile_id) and r.level_for(profile_id) == "MUST" and len(killers.get(rid, [])) < MIN_MUST_KILLERS}


def judge(runs: list[Run]) -> list[str]:
    """Every way the matrix falls short, one line each."""
    catalogue = load_catalogue()
    reqs = registry()
    problems: list[str] = []
    killers: dict[tuple[str, str], list[str]] = {}
    for run in runs:
        job, where = run.job, f"{run.job.name} on {run.job.profile}"
        if run.verdict is None:
            problems.append(f"{where}: no report (exit {run.returncode}): {_last_line(run.output)}")
            continue
        if run.errored:
            problems.append(f"{where}: suite errors in {', '.join(sorted(run.errored))}")
        if run.leaked:
            problems.append(f"{where}: a reference key appears in the output or the report")
        if job.variant is not None:
            if run.failed():
                problems.append(f"{where}: a clean variant fails {', '.join(sorted(run.failed()))} (a false failure)")
            wanted = expected_verdict(job)
            if run.verdict != wanted:
                problems.append(f"{where}: verdict {run.verdict}, expected {wanted}")
            continue
        if job.defect is None:
            if run.failed():
                problems.append(f"{where}: the clean reference fails {', '.join(sorted(run.failed()))}")
            planned = [r for r in reqs.values() if r.planned and r.applies_to(load_profile(job.profile))]
            if not planned and run.verdict != "conformant":
                problems.append(f"{where}: verdict {run.verdict}, expected conformant")
            continue
        info = catalogue[job.defect]
        for rid in run.failed():
            killers.setdefault((rid, job.profile), []).append(job.defect)
        missed = expected_kills(info, job.profile) - run.failed()
        bare = expected_kills(info, job.profile) & run.unexplained
        if bare:
            problems.append(f"{where}: {', '.join(sorted(bare))} failed without a reason and evidence (a curl line)")
        if missed:
            problems.append(f"{where}: expected {', '.join(sorted(missed))} to fail, they did not")
        allowed = set(info.kills) | set(info.may_also_fail)
        # A SHOULD failing where the catalogue does not say so is as telling as a MUST: either the
        # catalogue is wrong about the defect or the test fails for a reason nobody explained.
        stray = run.failed() - allowed
        if stray:
            named = ", ".join(f"{reqs[r].level_for(job.profile)} {r}" if r in reqs and reqs[r].listed_for(job.profile)
                              else r for r in sorted(stray))
            problems.append(f"{where}: {named} also failed (not in kills / may_also_fail)")
    for profile_id in sorted({r.job.profile for r in runs}):
        if not any(r.job.defect for r in runs if r.job.profile == profile_id):
            continue
        for rid, requirement in reqs.items():
            if covered(requirement, profile_id) and (rid, profile_id) not in killers:
                problems.append(f"{rid} on {profile_id}: no defect makes it fail (a test that cannot fail)")
        if "MAP-3" in reqs and covered(reqs["MAP-3"], profile_id):
            for code, names in code_killers(runs, profile_id).items():
                if not names:
                    problems.append(f"MAP-3 on {profile_id}: no defect makes the case for code {code!r} fail")
        for rid, names in weak_musts(proven_killers(runs, profile_id), profile_id).items():
            if (rid, profile_id) in killers:  # reported above when nothing kills it at all
                problems.append(f"MUST {rid} on {profile_id}: killed as catalogued by {len(names)} defect(s)"
                                f" ({', '.join(names) or 'none'}), needs {MIN_MUST_KILLERS}")
    return problems


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


# --- rendering ----------------------------------------------------------------------------------

def render(matrix: Matrix) -> str:
    """docs/kill-matrix.md: one table per profile, defects × requirements."""
    catalogue = load_catalogue()
    reqs = registry()
    out = ["# Kill matrix", "",
           "Generated by `python -m conformance.killmatrix --write docs/kill-matrix.md` (also run by",
           "`tests/test_kill_matrix.py`). Each row is one full suite run against the reference gateway",
           "with one defect of `conformance/data/defects.yaml` switched on; each column a requirement",
           "of `conformance/data/requirements.yaml` that applies to the profile and has tests.", "",
           "`K` the defect kills it as catalogued · `k` it also fails (allowed collateral) ·",
           "`!` it fails (MUST or SHOULD) and the catalogue does not say so · `MISS` catalogued but did not fail ·",
           "blank: passed.", ""]
    for profile_id in matrix.profiles:
        ids = [rid for rid, r in reqs.items() if covered(r, profile_id)]
        out += [f"## {profile_id}", "", "| defect | " + " | ".join(ids) + " |",
                "|---|" + "---|" * len(ids)]
        clean = matrix.run(profile_id, None)
        if clean is not None:
            out.append("| *(clean)* | " + " | ".join("!" if clean.statuses.get(i) == "failed" else ""
                                                   for i in ids) + " |")
        for name, info in catalogue.items():
            run = matrix.run(profile_id, name)
            if run is None:
                continue
            cells = []
            expected = expected_kills(info, profile_id)
            for rid in ids:
                failed = run.statuses.get(rid) == "failed"
                if rid in expected:
                    cells.append("K" if failed else "MISS")
                elif failed:
                    cells.append("k" if rid in set(info.kills) | set(info.may_also_fail) else "!")
                else:
                    cells.append("")
            out.append(f"| `{name}` | " + " | ".join(cells) + " |")
        killed_by = {rid: sorted(r.job.defect for r in matrix.runs
                                 if r.job.profile == profile_id and r.job.defect and rid in r.failed())
                     for rid in ids}
        proven = proven_killers(matrix.runs, profile_id)
        out += ["", f"Killed by (count: defects that kill it as catalogued; a MUST needs {MIN_MUST_KILLERS}):", ""]
        for rid in ids:
            count = len(proven.get(rid, []))
            level = reqs[rid].level_for(profile_id)
            short = level == "MUST" and count < MIN_MUST_KILLERS  # practice MUSTs too: they must be able to fail
            out.append(f"- {rid} ({level} {reqs[rid].basis(profile_id).basis}, {'**' if short else ''}{count}{'**' if short else ''}): "
                       + (", ".join(f"`{d}`" for d in killed_by[rid]) or "**nothing**"))
        if "MAP-3" in ids:
            out += ["", "MAP-3 per catalogued code (defects that make its case fail):", ""]
            out += [f"- `{code}`: " + (", ".join(f"`{d}`" for d in names) or "**nothing**")
                    for code, names in code_killers(matrix.runs, profile_id).items()]
        out.append("")
    out += render_variants(matrix)
    planned = [rid for rid, r in reqs.items() if r.planned]
    if planned:
        out += ["Planned (no tests on this branch yet, not in the matrix): " + ", ".join(planned) + ".", ""]
    if matrix.problems:
        out += ["## Problems", ""] + [f"- {p}" for p in matrix.problems] + [""]
    return "\n".join(out)


_VARIANT_CELLS = {"failed": "F", "error": "E", "inconclusive": "i", "skipped": "s", "passed": ""}


def render_variants(matrix: Matrix) -> list[str]:
    """The other half: one row per clean variant (and all together), which must fail nothing."""
    variant_runs = [r for r in matrix.runs if r.job.variant]
    if not variant_runs:
        return []
    reqs = registry()
    out = ["# Clean variants (the other half)", "",
           "Each row is one full suite run against the reference gateway with one clean variant of",
           "`conformance/data/variants.yaml` switched on (correct behaviours that differ from the",
           "reference's own choices, each citing what allows it): `all` (every variant that keeps the",
           "clean verdict, and the first of each family of alternatives), the other alternatives in",
           "groups (`a+b`), and a variant with a verdict of its own by itself. A run must fail nothing",
           "and reach the verdict shown; `F` would be a false failure of the suite.", "",
           "`F` failed · `E` suite error · `i` inconclusive · `s` skipped · blank: passed.", ""]
    for profile_id in matrix.profiles:
        runs = [r for r in variant_runs if r.job.profile == profile_id]
        if not runs:
            continue
        ids = [rid for rid, r in reqs.items() if covered(r, profile_id)]
        out += [f"## {profile_id} (variants)", "", "| variant | verdict | " + " | ".join(ids) + " |",
                "|---|---|" + "---|" * len(ids)]
        for run in runs:
            name = run.job.variant or ""
            cells = [_VARIANT_CELLS.get(run.statuses.get(rid, "skipped"), "?") for rid in ids]
            verdict = run.verdict or "no report"
            if run.verdict != expected_verdict(run.job):
                verdict = f"**{verdict}** (expected {expected_verdict(run.job)})"
            out.append(f"| `{name}` | {verdict} | " + " | ".join(cells) + " |")
        out.append("")
    return out


def compute(profiles: Iterable[str] | None = None, defects: Iterable[str] | None = None,
            workers: int | None = None, variants: Iterable[str] | None = None,
            variants_alone: bool = False) -> Matrix:
    jobs = plan(profiles, defects, variants, variants_alone)
    started = time.monotonic()
    runs = run_all(jobs, workers)
    return Matrix(runs, elapsed_s=time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.killmatrix", description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="PATH", help="write the matrix as Markdown here")
    parser.add_argument("--jobs", type=int, default=None, help="parallel suite runs (default: cores)")
    parser.add_argument("--profile", action="append", help="only this profile (repeatable)")
    parser.add_argument("--defect", action="append", help="only this defect (repeatable; skips clean runs)")
    parser.add_argument("--variant", action="append",
                        help="only this clean variant, or 'all' (repeatable; skips clean runs)")
    parser.add_argument("--variants-alone", action="store_true",
                        help="also run every clean variant by itself (not only in its group)")
    args = parser.parse_args(argv)
    matrix = compute(args.profile, args.defect, args.jobs, args.variant, args.variants_alone)
    text = render(matrix)
    print(text)
    cpu = f", {matrix.cpu_s:.0f} CPU-s ({matrix.cpu_s / len(matrix.runs):.1f} per run)" if matrix.cpu_s else ""
    print(f"{len(matrix.runs)} suite runs in {matrix.elapsed_s:.1f} s wall time{cpu}")
    if args.write:
        Path(args.write).write_text(text)
    for problem in matrix.problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if matrix.problems else 0


if __name__ == "__main__":
    sys.exit(main())
