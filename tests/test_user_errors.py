"""Bad input ends in one readable line and a non-zero exit, fast — never a traceback wall or a hang."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from conformance.runner.session import PROBE_TIMEOUT_S
from tests.conftest import CHILD_TIMEOUT_S, REPO
from tests.conftest import run_pytest as pytest_child


def run_pytest(*args: str, cwd=REPO, timeout: float = CHILD_TIMEOUT_S) -> tuple[int, str, float]:
    started = time.monotonic()
    code, output = pytest_child(["-q", "-p", "no:cacheprovider", *args], cwd=cwd, timeout=timeout, kind="user-error runs")
    return code, output.strip(), time.monotonic() - started


def assert_one_line(output: str, needle: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert needle in lines[0], output
    assert "Traceback" not in output


# What load may add between two pytest start-ups measured one after the other: the bounds below
# catch a retry loop or a missing deadline (tens of seconds, or never), not a slow machine.
LOAD_SLACK_S = 20


def _startup_s() -> float:
    """What a pytest process costs here and now to start and stop on a one-line error (no request):
    time bounds are this plus the part under test, so a loaded 2-core machine does not miss them."""
    _, _, elapsed = run_pytest("--target", "not-a-url")
    return elapsed


def test_unreachable_target(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, output, elapsed = run_pytest("--target", f"http://127.0.0.1:{port}")
    assert code != 0
    assert_one_line(output, "cannot reach target")
    startup = _startup_s()
    assert elapsed < startup + LOAD_SLACK_S, f"took {elapsed:.1f} s (start-up alone {startup:.1f} s)"


def test_silent_target_times_out(tmp_path):
    with socket.socket() as server:  # accepts, never answers
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        code, output, elapsed = run_pytest("--target", f"http://127.0.0.1:{server.getsockname()[1]}")
    assert code != 0
    assert_one_line(output, "cannot reach target")
    startup = _startup_s()
    assert elapsed < startup + PROBE_TIMEOUT_S + LOAD_SLACK_S, f"took {elapsed:.1f} s (start-up alone {startup:.1f} s)"


def test_not_a_url():
    code, output, _ = run_pytest("--target", "not-a-url")
    assert code != 0
    assert_one_line(output, "is not a URL")


def test_yaml_syntax_error(tmp_path):
    config = tmp_path / "target.yaml"
    config.write_text("roles: {valid: [\n")
    code, output, _ = run_pytest("--target-config", str(config))
    assert code != 0
    assert_one_line(output, "invalid YAML at line")


@pytest.mark.parametrize("args,needle", [
    (("--max-requests", "0"), "--max-requests 0: give a positive"),
    (("--max-requests", "-1"), "--max-requests -1: give a positive"),
    (("--max-rps", "0"), "--max-rps 0: give a positive"),
    (("--level", "3"), "--level '3': give must, should or all"),
    (("--report",), "--report needs a value"),
])
def test_bad_limits_and_options_are_one_line(args, needle):
    code, output, _ = run_pytest(*args)
    assert code == 4
    assert_one_line(output, needle)


@pytest.mark.parametrize("option,body", [
    ("--baseline", "deviations:\n  - {id: HDR-2, reason: CDN, expires: 2027-02-30}\n"),
    ("--target-config", "model: gpt-4o-mini\nroles: {valid: {api_key: x, expires: 2027-02-30}}\n"),
])
def test_impossible_date_is_one_line(tmp_path, option, body):
    path = tmp_path / "file.yaml"
    path.write_text(body)
    code, output, _ = run_pytest(option, str(path))
    assert code == 4
    assert_one_line(output, "'2027-02-30' is not a valid date")


def test_wrong_type(tmp_path):
    config = tmp_path / "target.yaml"
    config.write_text("limits: {max_requests: lots}\n")
    code, output, _ = run_pytest("--target", "http://127.0.0.1:9", "--target-config", str(config))
    assert code != 0
    assert_one_line(output, "$.limits.max_requests")


def test_unknown_profile():
    code, output, _ = run_pytest("--profile", "nosuch")
    assert code != 0
    assert_one_line(output, "unknown profile 'nosuch'")


def test_non_http_port(tmp_path):
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def banner() -> None:
        try:
            conn, _ = server.accept()
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            time.sleep(0.5)
            conn.close()
        except OSError:
            pass

    threading.Thread(target=banner, daemon=True).start()
    try:
        code, output, _ = run_pytest("--target", f"http://127.0.0.1:{server.getsockname()[1]}")
    finally:
        server.close()
    assert code != 0
    assert_one_line(output, "does not speak HTTP")


def test_cli_unknown_defect():
    done = subprocess.run([sys.executable, "-m", "conformance.reference", "--profile", "pyai", "--defect", "nope"],
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert done.returncode != 0
    assert_one_line(done.stderr, "nope")
