"""A pytest run forked from the warm server (conformance.forkrun) is the run a fresh `python -m
pytest` would have made: same environment, directory, `sys.path`, `sys.argv`, output and exit
status; what a fork cannot reproduce it refuses; the server holds nothing a run could share.

The kill matrix and the self-tests' `run_suite` start most of their suite runs this way.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import forkrun
from tests.conftest import CHILD_TIMEOUT_S, REPO, run_pytest

pytestmark = pytest.mark.skipif(not forkrun.available(), reason="no fork server on this platform")

# A test that writes down how its process was started.
PROBE = '''
import json, os, signal, sys

def test_probe():
    with open(os.environ["GWC_SELFTEST_PROBE_OUT"], "w") as out:
        json.dump({"environ": dict(os.environ), "cwd": os.getcwd(), "path": sys.path, "argv": sys.argv,
                   "dont_write_bytecode": sys.dont_write_bytecode, "sigint": repr(signal.getsignal(signal.SIGINT)),
                   "stdout": [sys.__stdout__.encoding, sys.__stdout__.errors],
                   "stderr": [sys.__stderr__.encoding, sys.__stderr__.errors]}, out)
    print("to stdout")
    print("to stderr", file=sys.stderr)
'''


def _both(tmp_path: Path, args: list[str], env: dict[str, str]) -> tuple[forkrun.Finished, subprocess.CompletedProcess[str]]:
    forked = forkrun.run(args, cwd=REPO, env=env, timeout=CHILD_TIMEOUT_S)
    assert forked is not None, "the fork refused an environment it can reproduce"
    fresh = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=CHILD_TIMEOUT_S)
    return forked, fresh


def _untimed(output: str) -> str:
    return re.sub(r" in \d+\.\d+s", " in Xs", output)


def _probe_env(out: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTEST_CURRENT_TEST")}
    return {**env, "GWC_SELFTEST_PROBE_OUT": str(out), "GWC_SELFTEST_ONLY_HERE": "1"}


def test_a_forked_run_starts_as_a_fresh_process_would(tmp_path):
    (tmp_path / "test_probe.py").write_text(PROBE, encoding="utf-8")
    args = ["-q", "-s", "-p", "no:cacheprovider", "-p", "no:randomly", str(tmp_path / "test_probe.py")]
    forked = forkrun.run(args, cwd=REPO, env=_probe_env(tmp_path / "forked.json"), timeout=CHILD_TIMEOUT_S)
    fresh = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=REPO, env=_probe_env(tmp_path / "fresh.json"),
                           capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert forked is not None and (forked.returncode, fresh.returncode) == (0, 0), (forked, fresh.stdout + fresh.stderr)
    seen = {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in ("forked", "fresh")}
    for probe in seen.values():
        probe["environ"].pop("GWC_SELFTEST_PROBE_OUT")
        probe["environ"].pop("PYTEST_CURRENT_TEST", None)  # names the probe's own phase
    assert seen["forked"] == seen["fresh"]
    assert "GWC_SELFTEST_ONLY_HERE" not in os.environ  # the run's environment stayed in the run
    assert forked.stderr == fresh.stderr == "to stderr\n"
    assert _untimed(forked.stdout) == _untimed(fresh.stdout) and "to stdout" in fresh.stdout, (forked, fresh.stdout)
    assert forked.cpu_s > 0


def test_output_and_exit_status_are_a_fresh_processes(tmp_path):
    """A one-line user error (no warning about what the server preloaded), and the statuses Python
    itself makes: an uncaught SystemExit with a message, an uncaught KeyboardInterrupt (killed by
    SIGINT, as Python ends then)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    forked, fresh = _both(tmp_path, ["-q", "-p", "no:cacheprovider", "--target", "not-a-url"], env)
    assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
    assert fresh.returncode == 4 and fresh.stdout == ""
    for name, raise_it, status in (("exits", "raise SystemExit('stopped here')", 1),
                                   ("interrupts", "raise KeyboardInterrupt", -2)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "conftest.py").write_text(raise_it + "\n", encoding="utf-8")
        (folder / "test_x.py").write_text("def test_x():\n    pass\n", encoding="utf-8")
        forked, fresh = _both(tmp_path, ["-q", "-p", "no:cacheprovider", str(folder)], env)
        assert forked.returncode == fresh.returncode == status, (forked, fresh.stdout + fresh.stderr)
        assert forked.stdout == fresh.stdout
        last = fresh.stderr.strip().splitlines()[-1]
        assert forked.stderr.strip().splitlines()[-1] == last, (forked.stderr, fresh.stderr)


def test_what_changes_how_python_starts_is_refused():
    """The server imported its modules under its own environment: a run that asks for another
    PYTHONPATH or another hypothesis set-up must be a fresh process."""
    base = dict(os.environ)
    assert forkrun.run(["--version"], cwd=REPO, env={**base, "PYTHONPATH": str(REPO)}, timeout=CHILD_TIMEOUT_S) is None
    assert forkrun.run(["--version"], cwd=REPO, env={**base, "HYPOTHESIS_NO_PLUGINS": "1"},
                       timeout=CHILD_TIMEOUT_S) is None
    ok = forkrun.run(["--version"], cwd=REPO, env={**base, "GWC_SELFTEST_ANYTHING": "x"}, timeout=CHILD_TIMEOUT_S)
    assert ok is not None and ok.returncode == 0 and "pytest" in ok.stdout + ok.stderr


def test_a_run_past_its_limit_is_killed_and_fails_the_test(tmp_path):
    (tmp_path / "test_hangs.py").write_text("import time\n\ndef test_hangs():\n    time.sleep(3600)\n", encoding="utf-8")
    args = ["-q", "-p", "no:cacheprovider", str(tmp_path / "test_hangs.py")]
    with pytest.raises(pytest.fail.Exception, match=r"ran past its 3 s limit .* and was killed"):
        run_pytest(args, timeout=3)


# Python-level reads of os.environ while the preload imports. A scan of the whole environment (urllib's
# proxy lookup reads every value to find `*_proxy`) is not a read of each name: `read_at_start`
# names what such a scan looks for.
ENV_PROBE = '''
import importlib, json, os
seen, scanning = set(), [0]
cls = type(os.environ)
getitem, contains, iterate = cls.__getitem__, cls.__contains__, cls.__iter__

def read(self, key):
    if not scanning[0]:
        seen.add(key)
    return getitem(self, key)

def scan(self):
    scanning[0] += 1
    try:
        yield from iterate(self)
    finally:
        scanning[0] -= 1

cls.__getitem__, cls.__iter__ = read, scan
cls.__contains__ = lambda self, key: (seen.add(key), contains(self, key))[1]
from conformance.forkrun import PRELOAD
for name in PRELOAD:
    importlib.import_module(name)
cls.__getitem__, cls.__contains__, cls.__iter__ = getitem, contains, iterate
print(json.dumps(sorted(seen)))
'''


def test_every_variable_the_preload_reads_is_one_a_fork_refuses_to_change(tmp_path):
    """`forkrun.read_at_start` must name what the preloaded modules read as they import, or a run
    asking for another value would silently get the server's: listed afresh here, so a dependency
    that starts reading one shows up."""
    done = subprocess.run([sys.executable, "-c", ENV_PROBE], cwd=tmp_path, capture_output=True, text=True,
                          timeout=CHILD_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    read = json.loads(done.stdout.strip().splitlines()[-1])
    assert read, "the probe saw no variable read: it no longer sees the reads"
    assert [name for name in read if not forkrun.read_at_start(name)] == []


SERVER_STATE = '''
import asyncio, gc, json, multiprocessing, os, socket, stat, sys, threading
from conformance import forkrun

def look(out):
    inet = []
    for fd in map(int, os.listdir("/proc/self/fd")):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                with socket.socket(fileno=os.dup(fd)) as sock:
                    inet.append(sock.family.name)
        except OSError:
            pass
    loops = [type(o).__name__ for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]
    with open(out, "w") as f:
        json.dump({"threads": threading.active_count(), "tasks": len(os.listdir("/proc/self/task")),
                   "sockets": inet, "loops": loops}, f)

if __name__ == "__main__":
    process = forkrun.server().Process(target=look, args=(sys.argv[1],))
    process.start()
    process.join()
'''


def test_the_server_holds_no_thread_event_loop_or_socket(tmp_path):
    """Every fork shares what the server holds: a thread would be gone in the fork (its locks held
    forever), an event loop or a socket would be one object for every run."""
    (tmp_path / "look.py").write_text(SERVER_STATE, encoding="utf-8")
    done = subprocess.run([sys.executable, str(tmp_path / "look.py"), str(tmp_path / "state.json")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["threads"] == state["tasks"] == 1, state
    assert state["loops"] == [], state
    # multiprocessing's own unix sockets to the server; never a network one
    assert not {"AF_INET", "AF_INET6"} & set(state["sockets"]), state
