"""pytest in a process forked from a warm server: the kill matrix's suite runs and the self-tests'.

Why: a fresh `python -m pytest` imports pytest, hypothesis, schemathesis, openai and the plugin, and
builds the fuzz strategies, before its first test: ~1.8 CPU-s a start, paid ~150 times by the kill
matrix and ~80 times by `pytest tests`. A multiprocessing fork server imports all that once
(`PRELOAD`); each run is a fork of it, in a process of its own that ends with the run, so nothing
one run changes is seen by the next, nor by the process that asked for it.

A fork is faithful only where a fresh process would have started the same way: `run` gives the
fork the caller's arguments, directory, environment, `sys.path` and `sys.argv`, and refuses (None:
start a real process instead) when the environment differs from the server's in a variable the
interpreter or the preloaded modules read as they start (`read_at_start`).
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from multiprocessing.context import ForkServerContext
from pathlib import Path

import pytest

from conformance.quarantine import run_exit_handlers
from conformance.runner.tidy import drop_rewrite_warnings

# Imported once by the fork server. No module here may leave a thread, an event loop or a socket
# behind (every fork would share it): tests/test_forkrun.py checks a fork of the server has none.
PRELOAD = ["pytest", "httpx", "openai", "hypothesis", "schemathesis", "conformance.plugin", "conformance.runner.session",
           "conformance.runner.collection", "conformance.runner.recording", "conformance.runner.summary",
           "conformance.suite.conftest", "conformance.runner.warm",
           "conformance.reference.gateway_process",
           "conformance.fuzzing.engine", "conformance.transport.sdk", "conformance.fuzzing.openapi",
           # what every suite run imports after start-up (found by diffing sys.modules around one:
           # ~145 modules, ~0.2 CPU-s a run): the suite's scenarios and billing, the report writers,
           # the SDK's chat resources, and pytest's own plugins and the installed ones (below)
           "conformance.billing.tasks", "conformance.billing.cut_stream", "conformance.billing.rejection_pass",
           "conformance.checks.sdk_retry", "conformance.fuzzing.billed_rejections", "conformance.report.ci",
           "conformance.report.gate", "conformance.report.baseline", "conformance.report.render.junit",
           "conformance.runner.failure_text", "conformance.runner.har_recording", "conformance.runner.progress",
           "conformance.scenarios.sdk", "conformance.scenarios.upstream", "conformance.servers.faults",
           "conformance.billing.charge_book", "conformance.contract.url_credentials",
           # what a forked process imports to run its target: this module, and the kill matrix's
           "conformance.forkrun", "conformance.killmatrix",
           # after every module of ours: it draws the FUZ-1 examples forked runs reuse, valid while no
           # module of ours is loaded after it (hypothesis mixes constants from each into its draws:
           # `fuzzing.draw_memo`); before pytest's plugins: hypothesis's counts it as plugin set-up
           "conformance.fuzzing.prewarm",
           "openai.resources.chat", "openai.lib.streaming.chat", "openai.pagination",
           "_pytest.junitxml", "_pytest.skipping", "_pytest.unittest", "_pytest.warnings", "_pytest.faulthandler",
           "_pytest.helpconfig", "_pytest.pastebin", "_pytest.setuponly", "_pytest.setupplan",
           "_pytest.threadexception", "_pytest.unraisableexception", "_pytest.tracemalloc",
           "schemathesis.pytest.plugin", "schemathesis.pytest.xdist", "schemathesis.reporting.html",
           "schemathesis.reporting.junitxml"]


def _installed_pytest_plugins() -> list[str]:
    """The modules of the pytest plugins installed here (entry points `pytest11`), which every run
    imports as pytest starts: xdist, pytest-timeout, hypothesis's, schemathesis's, and any other."""
    from importlib.metadata import entry_points

    return sorted({ep.value.split(":")[0] for ep in entry_points(group="pytest11")})


PRELOAD += [name for name in _installed_pytest_plugins() if name not in PRELOAD]

# What the interpreter reads as it starts (PYTHON*, the locale, the time zone) and what the
# preloaded modules read as they import: hypothesis's settings and CI detection, openai's logging,
# websockets' limits, pydantic's plugins, execnet's debug switch (xdist's plugin imports it), where
# `fuzzing.prewarm` keeps hypothesis's cache while it draws (XDG_CACHE_HOME, HOME), and for the TLS
# context and SDK client `runner.warm` builds, OpenSSL's and httpx's certificate and key-log
# variables and urllib's proxies (a scan of the whole environment for `*_proxy`).
# tests/test_forkrun.py lists the Python-level reads afresh.
_READ_AT_START_PREFIXES = ("PYTHON", "_PYTHON", "LC_", "HYPOTHESIS_", "SCHEMATHESIS_", "OPENAI_", "AZURE_OPENAI_",
                           "WEBSOCKETS_", "PYDANTIC_", "DEFER_PYDANTIC_", "SSL", "OPENSSL_", "EXECNET_")
_READ_AT_START = frozenset({"LANG", "TZ", "HOME", "XDG_CACHE_HOME", "CI", "BUILDKITE", "CIRCLECI", "CIRRUS_CI", "CODEBUILD_BUILD_ID",
                            "GITHUB_ACTIONS", "GITLAB_CI", "HEROKU_TEST_RUN_ID", "TEAMCITY_VERSION", "TF_BUILD",
                            "bamboo.buildKey", "__TOX_ENVIRONMENT_VARIABLE_ORIGINAL_CI", "REQUEST_METHOD"})
# Read at start but applied to the fork as a fresh process would have it: only bytecode caching.
_APPLIED = frozenset({"PYTHONDONTWRITEBYTECODE"})


def read_at_start(name: str) -> bool:
    """Whether a process's behaviour depends on `name`'s value when it started, not only later."""
    return name in _READ_AT_START or name.startswith(_READ_AT_START_PREFIXES) or name.lower().endswith("_proxy")


def available() -> bool:
    """Fork servers exist on this platform (Linux, macOS; not Windows)."""
    return "forkserver" in multiprocessing.get_all_start_methods()


def server() -> ForkServerContext:
    """The context whose processes fork from this process's one fork server (started at the first
    run, by whoever asks first: the kill matrix and the self-tests share it)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def cpu_s() -> float:
    """CPU seconds this process and its reaped children used (a forked process starts at zero; a
    server the zygote forked for it is the zygote's child, not counted here)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextmanager
def _redirected(stdout: str, stderr: str) -> Iterator[None]:
    """File descriptors 1 and 2 (and sys.stdout/err on them) go to these files: pytest's fd capture
    and the reference gateway it starts write there too. The same path twice: one file, interleaved."""
    out = open(stdout, "w")  # closed below, after the streams on it are flushed
    err = out if stderr == stdout else open(stderr, "w")
    try:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
        sys.stdout = open(1, "w", encoding=encoding, closefd=False)
        sys.stderr = open(2, "w", encoding=encoding, errors="backslashreplace", closefd=False, buffering=1)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        out.close()
        if err is not out:
            err.close()


class _Preloaded:
    """A plugin for the forked run: pytest warns it cannot rewrite the plugin packages the server
    imported (hypothesis, schemathesis), where a fresh process would have imported them after it
    could. Those warnings are the fork's, not the run's: out of the tally before anything prints."""

    def __init__(self, modules: frozenset[str]) -> None:
        self.modules = modules

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        drop_rewrite_warnings(session.config, self.modules.__contains__)


def pytest_here(args: Sequence[str], stdout: str, stderr: str, prepare: Callable[[], None] | None = None) -> int:
    """In a forked process: `prepare()`, then `pytest.main(args)`, with their output in these files,
    then the exit handlers; the status `python -m pytest` would have exited with (negative: killed
    by a signal)."""
    preloaded = _Preloaded(frozenset(sys.modules))
    # Everything the server preloaded is never garbage: out of the collector's sight, every
    # collection in the run (and the ~5 full ones pytest makes at its end) no longer walks it.
    # Measured in the kill matrix: 5.0 -> 4.3 CPU-s a run.
    gc.freeze()
    with _redirected(stdout, stderr):
        try:
            if prepare is not None:
                prepare()
            code = int(pytest.main(list(args), plugins=[preloaded]))
        except SystemExit as exc:  # what Python does with an uncaught SystemExit
            code = _exit_status(exc.code)
        except KeyboardInterrupt:  # Python prints it and ends killed by the signal
            traceback.print_exc()
            code = -signal.SIGINT
        except BaseException:  # noqa: BLE001 - Python prints it and exits 1
            traceback.print_exc()
            code = 1
        run_exit_handlers()
    return code


def _exit_status(value: object) -> int:
    """The status Python exits with for `SystemExit(value)` (printing a value that is not one)."""
    if value is None or isinstance(value, int):
        return int(value or 0)
    print(value, file=sys.stderr)
    return 1


@dataclass(frozen=True)
class Finished:
    returncode: int  # as subprocess has it: pytest's status, or minus the signal that ended it
    stdout: str
    stderr: str
    cpu_s: float  # CPU seconds of the run and every child it reaped (the gateway it started)
    timed_out: bool = False  # killed at the caller's limit


def run(args: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float | None) -> Finished | None:
    """`python -m pytest ARGS` in CWD with exactly ENV, as a fork of the warm server; None when a
    fork cannot be faithful (ENV differs from the server's in something read at start)."""
    with tempfile.TemporaryDirectory(prefix="gwc-forkrun-") as scratch:
        out, err, result = (os.path.join(scratch, name) for name in ("stdout", "stderr", "result.json"))
        process = server().Process(target=_child, args=(list(args), str(cwd), dict(env), _fresh_path(), out, err, result),
                                   name="pytest")
        process.start()
        process.join(timeout)
        timed_out = process.is_alive()
        if timed_out:
            process.kill()
            process.join()
        written = json.loads(Path(result).read_text()) if os.path.exists(result) else {}
        if written.get("refused"):
            return None
        code = process.exitcode if process.exitcode is not None else -signal.SIGKILL
        return Finished(code, _text(out), _text(err), float(written.get("cpu_s", 0.0)), timed_out)


def _text(path: str) -> str:
    """A stream as `subprocess.run(text=True)` reads it: the locale's encoding, universal newlines."""
    return Path(path).read_text(errors="replace") if os.path.exists(path) else ""


@cache
def _fresh_path() -> list[str]:
    """`sys.path` of a fresh interpreter here after its first entry (the script's directory, or the
    working directory for `-m`), which this process's pytest has added to."""
    done = subprocess.run([sys.executable, "-c", "import json, sys; print(json.dumps(sys.path))"],
                          capture_output=True, text=True, check=True, timeout=120)
    path: list[str] = json.loads(done.stdout)
    return path  # [''] + the rest; without '' first, the interpreter adds none (PYTHONSAFEPATH)


def _child(args: list[str], cwd: str, env: dict[str, str], fresh_path: list[str], out: str, err: str,
           result: str) -> None:
    """The forked side of `run`: refuse, or become `python -m pytest ARGS` and exit as it would."""
    refused = sorted(name for name in set(os.environ) | set(env)
                     if read_at_start(name) and name not in _APPLIED and os.environ.get(name) != env.get(name))
    if refused:
        Path(result).write_text(json.dumps({"refused": refused}))
        return
    code = pytest_here(args, out, err, prepare=lambda: _become(args, cwd, env, fresh_path))
    Path(result).write_text(json.dumps({"cpu_s": cpu_s()}))
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


def _become(args: list[str], cwd: str, env: dict[str, str], fresh_path: list[str]) -> None:
    """This process as `python -m pytest ARGS` started in CWD with ENV would be."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    sys.path[:] = [cwd, *fresh_path[1:]] if fresh_path[:1] == [""] else fresh_path
    sys.argv[:] = [os.path.join(os.path.dirname(pytest.__file__), "__main__.py"), *args]
    sys.orig_argv[:] = [sys.executable, "-m", "pytest", *args]
