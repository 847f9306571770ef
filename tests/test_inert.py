"""Installed in someone else's venv, the plugin changes nothing for their test run."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import CHILD_TIMEOUT_S


def test_other_project_run_is_untouched(tmp_path):
    (tmp_path / "test_other.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    with_plugin = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                                 cwd=tmp_path, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    without = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:conformance"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert with_plugin.returncode == without.returncode == 0
    assert "gateway-conformance" not in with_plugin.stdout
    assert "verdict" not in with_plugin.stdout
    strip = lambda out: [row for row in out.splitlines() if " in " not in row]  # noqa: E731 - timings differ
    assert strip(with_plugin.stdout) == strip(without.stdout)


def test_no_gateway_process_started(tmp_path):
    (tmp_path / "test_ps.py").write_text(
        "import os, subprocess\n"
        "def test_no_reference():\n"
        "    out = subprocess.run(['ps', '-o', 'args=', '--ppid', str(os.getpid())], capture_output=True, text=True).stdout\n"
        "    mine = [l for l in out.splitlines() if 'conformance.reference' in l]\n"
        "    assert not mine, mine\n"
    )
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert done.returncode == 0, done.stdout
