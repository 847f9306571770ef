"""The mutation kill matrix: every tested requirement can fail, every defect fails what it claims;
and its other half: every clean variant (alone, and all together) fails nothing.

The suite runs once clean and once per (defect, profile) pair of the catalogue, all in one
module-scoped fixture (parallel, one reference gateway per run); the tests below only read it.
Requirements and defects added on other branches are picked up from the registry and catalogue.
The matrix is printed and written to the session's temporary directory, then compared with
docs/kill-matrix.md: a difference is a warning naming the command that regenerates the doc
(`python -m conformance.killmatrix --write docs/kill-matrix.md`); no self-test writes a tracked file.
"""

from __future__ import annotations

import json
import time
import warnings

import pytest

from conformance import killmatrix
from conformance.contract.profiles import load_profile
from conformance.contract.requirements import registry
from conformance.killmatrix import Job, Matrix, covered, expected_kills
from conformance.reference.defects import load_catalogue
from conformance.reference.variants import ALL as ALL_VARIANTS
from conformance.reference.variants import applicable
from conformance.reference.variants import load_catalogue as load_variants
from tests import runcost
from tests.conftest import REPO

# One worker runs this module (its own xdist group, handed out first: tests/conftest.py). The first
# test that reads `matrix` computes it (every suite run of the matrix) inside its timeout:
# ~32 min on 2 cores beside six other jobs' load, so an hour is a hang guard, not a speed test.
pytestmark = [pytest.mark.xdist_group("kill-matrix"), pytest.mark.timeout(3600)]

PROFILES = killmatrix.shipped_profiles()
DEFECT_JOBS = [job for job in killmatrix.plan(PROFILES) if job.defect]
VARIANT_JOBS = [job for job in killmatrix.plan(PROFILES) if job.variant]
PAIRS = [(rid, p) for p in PROFILES for rid, r in registry().items() if covered(r, p)]


@pytest.fixture(scope="module")
def matrix(clean_run, tmp_path_factory: pytest.TempPathFactory) -> Matrix:
    """Every defect and variant run of the plan; the clean reference's runs are the session's shared
    bare certifications (`clean_run`, also read by test_certify_reference and others): one clean run
    per profile per session. They differ from the matrix's own clean job only in not passing
    `-p no:randomly`, which the clean verdict must survive anyway."""
    started = time.monotonic()
    runs = killmatrix.run_all([job for job in killmatrix.plan(PROFILES) if not job.is_clean])
    runcost.record("kill-matrix runs", len(runs), sum(r.cpu_s for r in runs))
    workdir = tmp_path_factory.mktemp("kill-matrix-clean")
    for profile in PROFILES:
        shared = clean_run(profile)
        report = workdir / f"{profile}.json"
        if shared.report is not None:
            report.write_text(json.dumps(shared.report))
        runs.append(killmatrix.collect(Job(profile, None), shared.returncode, report, shared.output))
    result = Matrix(runs, elapsed_s=time.monotonic() - started)
    text = killmatrix.render(result)
    print(text)
    print(f"kill matrix: {len(result.runs)} suite runs in {result.elapsed_s:.1f} s wall time, {result.cpu_s:.0f} CPU-s")
    fresh = tmp_path_factory.mktemp("kill-matrix") / "kill-matrix.md"
    fresh.write_text(text)
    doc = REPO / "docs" / "kill-matrix.md"
    if not doc.exists() or doc.read_text() != text:
        warnings.warn(f"docs/kill-matrix.md differs from this run's matrix ({fresh}): regenerate it with "
                      "`python -m conformance.killmatrix --write docs/kill-matrix.md`", stacklevel=1)
    return result


def _run(matrix: Matrix, profile: str, defect: str | None, variant: str | None = None):
    run = matrix.run(profile, defect, variant)
    assert run is not None and run.verdict is not None, f"no report: {run.output[-2000:] if run else 'not run'}"
    return run


@pytest.mark.parametrize("profile", PROFILES)
def test_clean_reference(matrix, profile):
    """No requirement fails on the clean gateway; conformant once nothing applicable is planned."""
    run = _run(matrix, profile, None)
    assert not run.failed(), f"{killmatrix.explain(run, run.failed())}\n{run.output[-3000:]}"
    assert not run.errored, f"{killmatrix.explain(run, run.errored)}\n{run.output[-3000:]}"
    planned = [r.id for r in registry().values() if r.planned and r.applies_to(load_profile(profile))]
    if not planned:
        assert run.verdict == "conformant", run.statuses


@pytest.mark.parametrize("job", DEFECT_JOBS, ids=[f"{j.defect}-{j.profile}" for j in DEFECT_JOBS])
def test_defect_kills_its_requirements(matrix, job: Job):
    """The catalogued requirements fail; no other requirement (MUST or SHOULD) fails unless the
    catalogue allows it."""
    run = _run(matrix, job.profile, job.defect)
    info = load_catalogue()[job.defect]
    missed = expected_kills(info, job.profile) - run.failed()
    assert not missed, f"{job.defect} on {job.profile}: {sorted(missed)} did not fail\n{run.output[-3000:]}"
    stray = run.failed() - set(info.kills) - set(info.may_also_fail)
    assert not stray, (f"{job.defect} on {job.profile}: {sorted(stray)} failed too\n"
                       f"{killmatrix.explain(run, stray)}\n{run.output[-3000:]}")
    assert not run.errored, f"{killmatrix.explain(run, run.errored)}\n{run.output[-3000:]}"
    # The verdict is the contract's: a failed contract/rfc MUST makes it non-conformant; a defect that
    # breaks only practice requirements (or SHOULDs) leaves it conformant, and the grade says so.
    contract_failures = {r for r in run.failed("MUST") if not registry()[r].basis(job.profile).is_practice}
    assert run.verdict == "non-conformant" or not contract_failures, run.verdict
    # One rule (conformance.report.gate): red exactly when the verdict is not conformant (no
    # --require-practice in the matrix) — a defect that only breaks a SHOULD or practice leaves it green.
    assert (run.returncode != 0) == (run.verdict != "conformant"), (run.returncode, run.verdict)


@pytest.mark.parametrize("job", VARIANT_JOBS, ids=[f"variant-{j.variant}-{j.profile}" for j in VARIANT_JOBS])
def test_variant_fails_nothing(matrix, job: Job):
    """A correct gateway that differs from the reference passes: no failed requirement, no suite
    error, and the clean reference's verdict (or the one the catalogue names)."""
    run = _run(matrix, job.profile, None, job.variant)
    assert not run.failed(), (f"variant {job.variant} on {job.profile}: false failures {sorted(run.failed())}\n"
                              f"{killmatrix.explain(run, run.failed())}\n{run.output[-3000:]}")
    assert not run.errored, f"{killmatrix.explain(run, run.errored)}\n{run.output[-3000:]}"
    assert run.verdict == killmatrix.expected_verdict(job), (run.verdict, run.output[-3000:])


@pytest.mark.parametrize("requirement,profile", PAIRS, ids=[f"{r}-{p}" for r, p in PAIRS])
def test_every_requirement_can_fail(matrix, requirement, profile):
    """A requirement no defect can make fail is a test that cannot fail."""
    killers = [r.job.defect for r in matrix.runs
               if r.job.profile == profile and r.job.defect and requirement in r.failed()]
    assert killers, f"{requirement} on {profile}: no defect in defects.yaml makes it fail"


MUST_PAIRS = [(rid, p) for rid, p in PAIRS if registry()[rid].level_for(p) == "MUST"]


@pytest.mark.parametrize("requirement,profile", MUST_PAIRS, ids=[f"{r}-{p}" for r, p in MUST_PAIRS])
def test_every_must_killed_twice(matrix, requirement, profile):
    """Two defects that break a MUST differently, each failing it as catalogued (collateral does not count)."""
    killers = killmatrix.proven_killers(matrix.runs, profile).get(requirement, [])
    assert len(killers) >= killmatrix.MIN_MUST_KILLERS, (
        f"{requirement} on {profile}: killed as catalogued only by {killers}, needs {killmatrix.MIN_MUST_KILLERS}")


CODE_PAIRS = [(c.code, p) for p in PROFILES for c in load_profile(p).codes if covered(registry()["MAP-3"], p)]


@pytest.mark.parametrize("code,profile", CODE_PAIRS, ids=[f"{c}-{p}" for c, p in CODE_PAIRS])
def test_every_code_case_can_fail(matrix, code, profile):
    """MAP-3 is one test per catalogued code: each code's case must be failed by some defect."""
    assert killmatrix.code_killers(matrix.runs, profile)[code], (
        f"MAP-3 on {profile}: no defect makes the case for {code!r} fail")


def test_no_retry_after_breaks_the_rate_limit_not_the_caps(matrix):
    """HDR-2 asks Retry-After of the rate limit's 429; the caps' (the realtime concurrency 429, the
    daily cap) may omit it (RFC 6585 §4 "MAY"), so they are not HDR-2 cases at all. Read from the
    matrix's own no_retry_after run (it was a suite run of its own in tests/test_planes_defects.py)."""
    run = _run(matrix, "pyai", "no_retry_after")
    assert "HDR-2" in run.failed()
    assert "test_retry_after[rate_limit_exceeded]" in run.failed_tests, (run.failed_tests, run.output[-3000:])
    assert not any(t.startswith("test_retry_after[concurrency_limit_exceeded]") for t in run.failed_tests), run.failed_tests
    assert "test_retry_after[concurrency_limit_exceeded]" not in run.output


def test_matrix_has_no_problems(matrix):
    assert not matrix.problems, "\n".join(matrix.problems)


# --- the catalogue itself (no suite runs) ---------------------------------------------------------

def test_catalogue_names_real_requirements_and_profiles():
    for name, info in load_catalogue().items():
        unknown = [k for k in info.kills + info.may_also_fail if k not in registry()]
        assert not unknown, f"{name}: unknown requirement ids {unknown}"
        assert not set(info.kills) & set(info.may_also_fail), f"{name}: an id is both killed and collateral"
        assert all(p in PROFILES for p in info.profiles or ()), f"{name}: unknown profile in {info.profiles}"
        assert any(expected_kills(info, p) or any(registry()[k].planned for k in info.kills)
                   for p in PROFILES if info.applies_to(p)), f"{name}: kills nothing on any profile it applies to"




@pytest.mark.parametrize("profile", PROFILES)
def test_catalogue_claims_two_killers_per_must(profile):
    """Before any run: the catalogue names at least two defects for every MUST tested on the profile."""
    weak = killmatrix.weak_musts(killmatrix.catalogued_killers(profile), profile)
    assert not weak, f"{profile}: MUSTs with fewer than {killmatrix.MIN_MUST_KILLERS} defects in defects.yaml: {weak}"


def test_judge_flags_unexpected_should_and_thin_musts():
    """The judgement itself, on synthetic runs: a SHOULD failing outside kills / may_also_fail is a
    problem like a MUST, and a MUST killed by one defect only is reported with its count."""
    from conformance.killmatrix import Run, judge

    catalogue = load_catalogue()
    reqs = registry()
    profile = PROFILES[0]
    ids = [rid for rid, r in reqs.items() if covered(r, profile)]
    levels = {rid: reqs[rid].level_for(profile) for rid in ids}
    should = next(rid for rid in ids if levels[rid] == "SHOULD")
    runs = [Run(Job(profile, None), 0, {rid: "passed" for rid in ids}, levels, "conformant")]
    for name, info in catalogue.items():
        if not info.applies_to(profile):
            continue
        statuses = {rid: "passed" for rid in ids}
        for rid in expected_kills(info, profile):
            statuses[rid] = "failed"
        runs.append(Run(Job(profile, name), 1, statuses, levels, "non-conformant"))
    assert not [p for p in judge(runs) if "also failed" in p], judge(runs)
    # One defect also fails a SHOULD it does not list.
    victim = next(r for r in runs[1:] if should not in catalogue[r.job.defect].kills + catalogue[r.job.defect].may_also_fail)
    victim.statuses[should] = "failed"
    assert any(f"SHOULD {should} also failed" in p for p in judge(runs)), judge(runs)
    victim.statuses[should] = "passed"
    # Take every kill of one MUST away but one.
    must = next(rid for rid in ids if levels[rid] == "MUST"
                and sum(r.statuses.get(rid) == "failed" for r in runs[1:]) >= killmatrix.MIN_MUST_KILLERS)
    assert not [p for p in judge(runs) if p.startswith(f"MUST {must} ")], judge(runs)
    killing = [r for r in runs[1:] if r.statuses.get(must) == "failed"]
    for run in killing[1:]:
        run.statuses[must] = "passed"
    assert any(p.startswith(f"MUST {must} on {profile}: killed as catalogued by 1 defect") for p in judge(runs)), judge(runs)


def test_planning_follows_the_catalogue():
    """Profile-specific defects only run where they apply; every other defect runs on every profile."""
    for name, info in load_catalogue().items():
        expected = {p for p in PROFILES if info.applies_to(p)}
        assert {j.profile for j in DEFECT_JOBS if j.defect == name} == expected, name


def test_variant_catalogue_names_real_profiles_and_plans_every_variant():
    """Every variant cites what allows it and runs (in `all`, a group or alone) on every profile it
    applies to; `all` runs on every profile; a family's alternatives never share a run."""
    for name, info in load_variants().items():
        assert info.allowed_by.strip(), name
        assert all(p in PROFILES for p in info.profiles or ()), f"{name}: unknown profile in {info.profiles}"
        expected = {p for p in PROFILES if info.applies_to(p)}
        assert expected, f"{name}: applies to no shipped profile"
        ran = {j.profile for j in VARIANT_JOBS
               if name in j.variants or (j.variant == ALL_VARIANTS and name in applicable(j.profile))}
        assert ran == expected, name
    assert {j.profile for j in VARIANT_JOBS if j.variant == ALL_VARIANTS} == set(PROFILES)
    for job in VARIANT_JOBS:
        names = applicable(job.profile) if job.variant == ALL_VARIANTS else job.variants
        families = [load_variants()[n].family for n in names if load_variants()[n].family]
        assert len(families) == len(set(families)), job


def test_a_failing_cell_says_why(tmp_path):
    """A cell that fails for a reason nobody expected (a stray failure under load) shows each failed
    requirement's reason and first problems in the assertion message, not only the output's tail."""
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"verdict": "non-conformant", "requirements": [
        {"id": "FUZ-1", "level": "MUST", "status": "failed", "reason": "1 of 3 tests failed", "evidence": [],
         "problems": [{"message": "POST /v1/chat/completions: connection failed (ReadError)"}]},
        {"id": "ENV-1", "level": "MUST", "status": "passed", "reason": "", "evidence": []}]}))
    run = killmatrix.collect(Job("pyai", "html_404"), 1, report, "short output")
    text = killmatrix.explain(run, run.failed())
    assert "FUZ-1 failed: 1 of 3 tests failed" in text and "connection failed (ReadError)" in text, text
    assert "ENV-1" not in text
