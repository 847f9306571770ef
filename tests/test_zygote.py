"""The server zygote (`conformance.servers.zygote`): a server forked from it keeps every promise a
`python -m` one makes (READY, the one-line start-up error with its status, stop, death with its
parent), the child inherits none of the zygote's sockets, and a zygote that cannot serve only
means the server starts the old way. Real processes throughout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conformance.errors import ConformanceError
from conformance.servers.provider_link import ProviderProcess
from conformance.servers.zygote_client import ZYGOTE_ENV, ForkedProcess, Zygote, ZygoteUnavailable, spawn, stats
from tests.conftest import CHILD_TIMEOUT_S

PROBE = """
import json, os, random, sys
mode = sys.argv[1]
if mode == "report":
    print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "secret": os.environ.get("GWC_PROBE_SECRET"),
                      "random": random.random(), "main": __name__, "stdin": sys.stdin.read()}), flush=True)
elif mode == "exit":
    sys.exit(int(sys.argv[2]))
elif mode == "raise":
    raise RuntimeError("boom from the probe")
elif mode == "message":
    sys.exit("a one-line farewell")
elif mode == "hang":
    import time
    print("hanging", flush=True)
    time.sleep(600)
"""


@pytest.fixture(scope="module")
def zygote() -> Iterator[Zygote]:
    with Zygote() as started:
        yield started


@pytest.fixture
def via_zygote(zygote: Zygote, monkeypatch: pytest.MonkeyPatch) -> Zygote:
    assert zygote.socket_path is not None
    monkeypatch.setenv(ZYGOTE_ENV, zygote.socket_path)
    return zygote


@pytest.fixture
def probe_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module `zygote_probe` in the working directory, which `python -m` finds first on sys.path."""
    (tmp_path / "zygote_probe.py").write_text(textwrap.dedent(PROBE))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(zygote: Zygote, *args: str, env: dict[str, str] | None = None, stdin: bytes = b"") -> tuple[int, str, str]:
    """One probe through the zygote: exit status, stdout, stderr."""
    assert zygote.socket_path is not None
    with tempfile.TemporaryFile() as err:
        child = spawn(zygote.socket_path, [sys.executable, "-m", "zygote_probe", *args],
                      {**os.environ, **(env or {})}, err)
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(stdin)
        child.stdin.close()
        out = child.stdout.read().decode()
        child.stdout.close()
        status = child.wait(timeout=CHILD_TIMEOUT_S)
        err.seek(0)
        return status, out, err.read().decode()


def test_child_gets_argv_env_cwd_stdin_and_its_own_random(via_zygote: Zygote, probe_dir: Path) -> None:
    runs = [_run(via_zygote, "report", "two", env={"GWC_PROBE_SECRET": "s3cret"}, stdin=b"hello") for _ in range(2)]
    reports = [json.loads(out) for status, out, _ in runs if status == 0]
    assert len(reports) == 2, runs
    first, second = reports
    assert first["argv"] == [str(probe_dir / "zygote_probe.py"), "report", "two"]
    assert first["cwd"] == str(probe_dir) and first["secret"] == "s3cret" and first["stdin"] == "hello"
    assert first["main"] == "__main__"
    assert first["random"] != second["random"]  # random reseeds after fork


@pytest.mark.parametrize("args, status, last_line", [
    (("exit", "3"), 3, ""),
    (("raise",), 1, "RuntimeError: boom from the probe"),
    (("message",), 1, "a one-line farewell"),
])
def test_exit_status_is_what_python_gives(via_zygote: Zygote, probe_dir: Path, args: tuple[str, ...], status: int,
                                          last_line: str) -> None:
    code, _, err = _run(via_zygote, *args)
    assert code == status
    assert (err.strip().splitlines() or [""])[-1] == last_line


@pytest.mark.parametrize("stop, status", [("terminate", -15), ("kill", -9)])
def test_terminate_and_kill_reach_the_child(via_zygote: Zygote, probe_dir: Path, stop: str, status: int) -> None:
    with tempfile.TemporaryFile() as err:
        child = spawn(via_zygote.socket_path or "", [sys.executable, "-m", "zygote_probe", "hang"], dict(os.environ), err)
        assert child.stdout is not None and child.stdout.readline() == b"hanging\n"
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=0.2)
        assert child.poll() is None
        getattr(child, stop)()
        assert child.wait(timeout=CHILD_TIMEOUT_S) == status
        child.stdout.close()
        assert child.stdin is not None
        child.stdin.close()
        with pytest.raises(ProcessLookupError):
            os.kill(child.pid, 0)


def test_server_through_zygote_says_ready_serves_and_stops(via_zygote: Zygote) -> None:
    provider = ProviderProcess().start()
    try:
        child = provider.process
        assert isinstance(child, ForkedProcess)
        assert provider.url is not None and provider.config["provider"]["records_url"] == provider.url
        assert httpx.get(provider.url + "/v1/models", timeout=30).status_code in (200, 401)
        cmdline = Path(f"/proc/{child.pid}/cmdline").read_bytes()
        assert provider.api_key.encode() not in cmdline  # the key rode in the env over the socket only
        pid = child.pid
    finally:
        provider.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert child.returncode is not None


def test_start_up_error_carries_status_and_last_stderr_line(via_zygote: Zygote) -> None:
    before = stats(via_zygote.socket_path or "")["forked"]
    with pytest.raises(ConformanceError) as caught:
        ProviderProcess(host="0.0.0.0").start()
    assert stats(via_zygote.socket_path or "")["forked"] == before + 1  # it was the zygote's child that refused
    message = str(caught.value)
    assert "did not start (exit status 2)" in message and "loopback only" in message
    assert len(message.splitlines()) == 1


def test_server_exits_when_its_parent_end_closes(via_zygote: Zygote) -> None:
    provider = ProviderProcess().start()
    child = provider.process
    assert isinstance(child, ForkedProcess) and child.stdin is not None
    child.stdin.close()
    assert child.wait(timeout=CHILD_TIMEOUT_S) == 0
    provider.stop()


def test_server_dies_with_its_parent(via_zygote: Zygote) -> None:
    """No orphan: the parent killed outright, its end of the server's stdin closes with it."""
    code = ("from conformance.servers.provider_link import ProviderProcess; import time; "
            "p = ProviderProcess().start(); print(type(p.process).__name__, p.process.pid, flush=True); time.sleep(600)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        kind, pid = parent.stdout.readline().split()
        assert kind == "ForkedProcess"
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    deadline = time.monotonic() + CHILD_TIMEOUT_S  # a hang guard: the zygote reaps it once it exits
    while time.monotonic() < deadline:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the provider {pid} outlived its parent")


def _socket_inodes(pid: int) -> set[str]:
    fds = Path(f"/proc/{pid}/fd")
    links = []
    for fd in fds.iterdir():
        try:
            links.append(os.readlink(fd))
        except FileNotFoundError:  # closed meanwhile
            pass
    return {link for link in links if link.startswith("socket:")}


def test_child_inherits_none_of_the_zygotes_sockets(via_zygote: Zygote) -> None:
    provider = ProviderProcess().start()
    try:
        assert isinstance(provider.process, ForkedProcess) and via_zygote.process is not None
        zygote_sockets = _socket_inodes(via_zygote.process.pid)  # its listener and our connection
        assert len(zygote_sockets) >= 2
        assert not zygote_sockets & _socket_inodes(provider.process.pid)
    finally:
        provider.stop()


def test_zygote_holds_nothing_a_child_could_share(zygote: Zygote) -> None:
    """Fork-safety of the preloaded server stack: one thread, and no socket, database or file
    opened at import time (only its stdio, its listener and its signal pipe)."""
    assert zygote.process is not None
    pid = zygote.process.pid
    assert len(list(Path(f"/proc/{pid}/task").iterdir())) == 1
    links = sorted(os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir() if int(fd.name) > 2)
    kinds = [link.split(":")[0] for link in links]
    assert kinds.count("socket") <= 1 + 2, links  # the listener (and a test's live connections at most)
    assert all(kind in ("socket", "pipe") for kind in kinds), links


def test_unreachable_zygote_falls_back_to_popen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = Zygote().start()
    assert dead.socket_path is not None
    path = dead.socket_path
    dead.stop()
    monkeypatch.setenv(ZYGOTE_ENV, path)
    with pytest.raises(ZygoteUnavailable), open(os.devnull, "wb") as devnull:
        spawn(path, [sys.executable, "-m", "conformance.provider", "--help"], dict(os.environ), devnull)
    provider = ProviderProcess().start()
    try:
        assert isinstance(provider.process, subprocess.Popen)
        assert provider.url is not None
    finally:
        provider.stop()


def test_zygote_that_cannot_preload_says_why() -> None:
    with pytest.raises(ZygoteUnavailable, match="cannot preload: ModuleNotFoundError"):
        Zygote(preload=["conformance.no_such_module"]).start()


@pytest.mark.parametrize("env, refusal", [
    ({"PYTHONWARNINGS": "error"}, "PYTHON\\* variables differ"),
    ({"PYTHONPATH": "{shadow}"}, "finds a preloaded module elsewhere"),
])
def test_child_needing_a_fresh_interpreter_is_refused(zygote: Zygote, tmp_path: Path, env: dict[str, str],
                                                      refusal: str) -> None:
    """What a fork cannot honour (start-up flags, a path where a preloaded module is another file)
    is refused, so `ServerProcess` starts that child the old way."""
    (tmp_path / "uvicorn").mkdir()
    (tmp_path / "uvicorn" / "__init__.py").write_text("")
    env = {k: v.format(shadow=tmp_path) for k, v in env.items()}
    with pytest.raises(ZygoteUnavailable, match=refusal), open(os.devnull, "wb") as devnull:
        spawn(zygote.socket_path or "", [sys.executable, "-m", "conformance.provider", "--help"],
              {**os.environ, **env}, devnull)


def test_preload_reads_no_environment_a_child_sets() -> None:
    """The reference's __main__ sets WEBSOCKETS_MAX_LINE_LENGTH before `websockets` reads it at
    import: were the zygote to preload `websockets`, every forked gateway would keep the default."""
    code = ("import sys; from conformance.servers.zygote_client import SERVER_PRELOAD as P; "
            "[__import__(m) for m in P]; print(sorted(m for m in sys.modules if m.split('.')[0] == 'websockets'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_child_of_another_interpreter_is_refused(zygote: Zygote, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client in another virtualenv (test_standalone's installed wheel) gets its own python."""
    monkeypatch.setattr(sys, "executable", "/elsewhere/venv/bin/python")
    with pytest.raises(ZygoteUnavailable, match="not /elsewhere/venv/bin/python"), open(os.devnull, "wb") as devnull:
        spawn(zygote.socket_path or "", ["/elsewhere/venv/bin/python", "-m", "conformance.provider", "--help"],
              dict(os.environ), devnull)


def test_server_outlives_a_killed_zygote_and_still_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    """The zygote killed under a running server: the handle watches the child's pidfd instead,
    so `stop()` still ends it (its exit status is then unknown: 255)."""
    with Zygote() as doomed:
        assert doomed.socket_path is not None and doomed.process is not None
        monkeypatch.setenv(ZYGOTE_ENV, doomed.socket_path)
        provider = ProviderProcess().start()
        child = provider.process
        assert isinstance(child, ForkedProcess)
        doomed.process.kill()
        doomed.process.wait()
        assert provider.url is not None and httpx.get(provider.url + "/v1/models", timeout=30).status_code in (200, 401)
        provider.stop()
        assert child.returncode == 255
