"""Helpers for the suite's own tests: run the conformance suite as a user would and read its report.

Also the tiers (`pytest tests -m "not slow"` is the inner loop: unit and in-process tests) and the
guard that no self-test writes a file under the repository.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import types
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance import forkrun
from tests import runcost

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ["pytester", "tests.zygote_session"]  # one server zygote per session

# What makes a self-test slow, by what it uses: a suite run, the kill matrix, LiteLLM, any child
# process (pytest, the CLI, a build, the reference gateway or provider served as a process). A rule
# matches when the test, one of its fixtures, or a helper of tests/ they call names all its words.
SLOW_USES: tuple[frozenset[str], ...] = tuple(frozenset(words.split()) for words in (
    "run_suite",                  # whole-suite runs (below)
    "killmatrix compute",         # the kill matrix
    "subprocess", "Popen", "venv", "runpytest_subprocess",
    "ReferenceProcess", "ProviderProcess",
    "forkrun run",                # a pytest run forked from the warm server (conformance.forkrun)
))


def _names(code: types.CodeType) -> set[str]:
    """Every global or attribute name `code` and the functions nested in it refer to."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _uses_slow(func: Callable[..., Any], seen: set[int]) -> bool:
    """Whether `func` (or a function or class of tests/ it names, transitively) matches a SLOW_USES rule."""
    func = getattr(func, "__wrapped__", func)
    code = getattr(func, "__code__", None)
    if code is None or id(code) in seen:
        return False
    seen.add(id(code))
    names = _names(code)
    if any(rule <= names for rule in SLOW_USES):
        return True
    scope = getattr(func, "__globals__", {})
    # `from tests.x import helper` inside a function: the helper is a local, look it up in tests.x.
    imported = [vars(sys.modules[n]) for n in names if n.startswith("tests") and n in sys.modules]
    for name in names:
        target = scope.get(name) or next((m[name] for m in imported if name in m), None)
        if not (getattr(target, "__module__", "") or "").startswith("tests"):
            continue
        members = vars(target).values() if isinstance(target, type) else [target]
        if any(callable(m) and _uses_slow(m, seen) for m in members):
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark `slow` every self-test that uses something slow (SLOW_USES), itself or through a
    fixture: `pytest tests -m "not slow"` is the inner loop. No hand-kept list to forget."""
    for item in items:
        if item.get_closest_marker("slow") or not isinstance(item, pytest.Function):
            continue
        # pytest has no public way from an item to its fixtures' functions: `_fixtureinfo` (pytest 8-9).
        funcs = [item.obj] + [defs[-1].func for name, defs in item._fixtureinfo.name2fixturedefs.items()
                              if defs and name != "request"]
        if any(_uses_slow(f, set()) for f in funcs):
            item.add_marker(pytest.mark.slow)
    items.sort(key=_heaviest_first)


def _heaviest_first(item: pytest.Item) -> int:
    """Order for `-n 3 --dist loadgroup` (a stable sort): the kill matrix first, then the other
    grouped runs (the hostile targets' nine suite runs), then the rest. xdist hands out work in this
    order, so the matrix (most of the session's CPU, one test item no second worker can share)
    starts at once, and the other workers' runs fill the cores beside it, instead of the matrix
    starting minutes in and finishing alone. Nothing waits for the matrix to end: every self-test
    must pass beside it as it must beside two CPU hogs (no outcome may depend on load)."""
    groups = [m.args[0] for m in item.iter_markers("xdist_group") if m.args]
    if "kill-matrix" in groups:
        return 0
    return 1 if "hostile" in groups else 2


def _tracked_state() -> dict[str, str] | None:
    """`git status --porcelain` of the repository, each changed path with a hash of its content:
    what a self-test wrote under the repository shows as a difference. None outside a git checkout."""
    try:
        done = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "-z"], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    state: dict[str, str] = {}
    for entry in filter(None, done.stdout.split("\0")):
        path = REPO / entry[3:]
        digest = hashlib.sha1(path.read_bytes()).hexdigest() if path.is_file() else "-"
        state[entry[3:]] = f"{entry[:2]} {digest}"
    return state


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the xdist controller (or a run without xdist)
        session.config.stash[_TRACKED] = _tracked_state()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No self-test writes a file under the repository (a tracked doc rewritten, a stray report):
    compare the repository's state at the end of the session with its start. Under CI (CI=true,
    nobody edits the checkout meanwhile) a change fails the run; elsewhere it is a red line, since
    the change may be the developer's own edit during a long run."""
    before = session.config.stash.get(_TRACKED, None)
    if hasattr(session.config, "workerinput") or before is None:
        return
    after = _tracked_state() or {}
    changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    if not changed:
        return
    message = ("files under the repository changed during the self-tests (no self-test may write there: "
               "use tmp_path): " + ", ".join(changed))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("\n" + message, red=True)
    else:
        print(message, file=sys.stderr)
    if os.environ.get("CI", "").lower() == "true" and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_TRACKED = pytest.StashKey[dict[str, str] | None]()


def pytest_configure(config: pytest.Config) -> None:
    """The suite runs these tests start are sessions of their own: under `-n 3` (tests/pytest.ini)
    they must not inherit the worker's PYTEST_XDIST_* variables and believe they are xdist workers
    (pytest-benchmark, for one, then prints a warning line into output we assert on)."""
    for name in [k for k in os.environ if k.startswith("PYTEST_XDIST_")]:
        os.environ.pop(name)
    if not hasattr(config, "workerinput"):  # the controller: one ledger of child runs, the workers inherit it
        handle, path = tempfile.mkstemp(prefix="gwc-selftest-ledger-", suffix=".jsonl")
        os.close(handle)
        os.environ[runcost.LEDGER_ENV] = path
        config.stash[_LEDGER] = Path(path)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The cost of the session's child runs in numbers load does not change: how many suite runs,
    and their CPU seconds (tests/runcost.py)."""
    path = config.stash.get(_LEDGER, None)
    totals = runcost.totals(path) if path else {}
    if totals:
        parts = [f"{runs} {kind} ({cpu:.0f} CPU-s)" for kind, (runs, cpu) in sorted(totals.items())]
        terminalreporter.write_line("child runs: " + ", ".join(parts) + "; total "
                                    f"{sum(c for _, c in totals.values()):.0f} CPU-s")


def pytest_unconfigure(config: pytest.Config) -> None:
    path = config.stash.get(_LEDGER, None)
    if path is not None:
        path.unlink(missing_ok=True)
        os.environ.pop(runcost.LEDGER_ENV, None)


_LEDGER = pytest.StashKey[Path]()


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


# A child process of a self-test (a suite run, the CLI, a build) may take this long: a guard against a
# hang only, never a speed test. pytest-timeout (tests/pytest.ini) bounds the test as a whole; on a
# loaded machine a whole suite run took over 240 s and a pytest refusing in one line over 60 s.
CHILD_TIMEOUT_S = 600.0


def run_suite(tmp_path: Path, *args: str, defects: tuple[str, ...] = (), env: dict[str, str] | None = None,
              timeout: float = CHILD_TIMEOUT_S, cwd: Path | None = None, fresh_process: bool = False) -> SuiteRun:
    """`pytest conformance/suite …` in a child process, with a report; returns code, output and report.
    `fresh_process`: a real `python -m pytest`, never a fork (see `run_pytest`)."""
    report = tmp_path / f"report-{len(list(tmp_path.glob('report-*.json')))}.json"
    command = ["-q", "-p", "no:cacheprovider", str(REPO / "conformance" / "suite"), "--report", str(report), *args]
    for defect in defects:
        command += ["--reference-defect", defect]
    # Inner runs must not inherit: defects meant for another run, a bytecode switch that makes every
    # start recompile ~300 modules, or the CI step summary (each inner run would append to it).
    inherited = ("GWC_REFERENCE_DEFECTS", "GWC_REFERENCE_VARIANTS", "PYTHONDONTWRITEBYTECODE", "GITHUB_STEP_SUMMARY")
    full_env = {k: v for k, v in os.environ.items() if k not in inherited}
    full_env.update(env or {})
    code, output = run_pytest(command, cwd=cwd or REPO, env=full_env, timeout=timeout, fresh_process=fresh_process)
    data = json.loads(report.read_text()) if report.exists() else None
    return SuiteRun(code, output, data)


def run_pytest(args: list[str], *, cwd: Path = REPO, env: dict[str, str] | None = None,
               timeout: float = CHILD_TIMEOUT_S, kind: str = "suite runs", fresh_process: bool = False) -> tuple[int, str]:
    """`python -m pytest ARGS` in CWD with exactly ENV (default: this process's): its exit status and
    its stdout followed by its stderr. A fork of this worker's warm fork server (conformance.forkrun:
    ~1.8 CPU-s of start-up saved a run) unless it cannot be faithful there (an environment that
    changes how Python or a preloaded module starts) or `fresh_process` asks for a real process (a
    test of how pytest starts from elsewhere). Its CPU goes to the ledger (tests/runcost.py)."""
    env = dict(os.environ) if env is None else env
    limit = (f"`pytest {' '.join(args)}` ran past its {timeout:.0f} s limit (a guard against a hang) "
             "and was killed; its output so far:\n")
    finished = None if fresh_process or not forkrun.available() else forkrun.run(args, cwd=cwd, env=env, timeout=timeout)
    if finished is not None:
        runcost.record(kind, 1, finished.cpu_s)
        if finished.timed_out:
            pytest.fail(limit + (finished.stdout + finished.stderr)[-3000:], pytrace=False)
        return finished.returncode, finished.stdout + finished.stderr
    with runcost.measured(f"{kind} (fresh process)"):
        try:
            done = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=cwd, env=env, capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            so_far = b"".join(x if isinstance(x, bytes) else x.encode() for x in (exc.stdout, exc.stderr) if x)
            pytest.fail(limit + so_far.decode(errors="replace")[-3000:], pytrace=False)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def suite(tmp_path: Path):
    def runner(*args: str, **kwargs: Any) -> SuiteRun:
        return run_suite(tmp_path, *args, **kwargs)

    return runner


@pytest.fixture(scope="session")
def clean_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], SuiteRun]:
    """`clean_run(profile)`: the bare certification of the reference (`pytest --profile P`), run once
    per profile per self-test session and shared by every test that reads it, also across xdist
    workers (a file lock and a cache in the session's temporary directory). Each call returns a
    fresh copy, so a test cannot change what the next one reads."""
    cache = _session_root(request, tmp_path_factory) / "gwc-clean-runs"
    cache.mkdir(exist_ok=True)

    def get(profile: str) -> SuiteRun:
        stored = cache / f"{profile}.json"
        with open(cache / f"{profile}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not stored.exists():
                workdir = cache / profile
                workdir.mkdir(exist_ok=True)
                run = run_suite(workdir, "--profile", profile)
                stored.write_text(json.dumps(asdict(run)))
            return SuiteRun(**json.loads(stored.read_text()))

    return get


def _session_root(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The self-test session's temporary directory, the same for the controller and every xdist worker."""
    root = tmp_path_factory.getbasetemp()
    if hasattr(request.config, "workerinput"):  # popen-gwN/ under the session's directory
        root = root.parent
    return root


@pytest.fixture(scope="session")
def built_once(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, Callable[[Path], Path]], Path]:
    """`built_once(name, build)`: `build(directory)` (returning what it built) runs once per self-test
    session, shared by every test and every xdist worker, like `clean_run`. A module-scoped fixture
    is built once per worker: under `-n 2` an expensive one (a certification bundle) ran twice.
    What it returns is read-only for its readers: copy it before changing it."""
    cache = _session_root(request, tmp_path_factory) / "gwc-built-once"
    cache.mkdir(exist_ok=True)

    def get(name: str, build: Callable[[Path], Path]) -> Path:
        directory, done = cache / name, cache / f"{name}.built"
        with open(cache / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.exists():
                directory.mkdir(exist_ok=True)
                done.write_text(str(build(directory)))
            return Path(done.read_text())

    return get
