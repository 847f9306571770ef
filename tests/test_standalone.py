"""As a user of a real gateway would: the reference served standalone, the suite pointed at it by URL.

Also: the suite shipped inside an installed wheel works outside the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv

from conformance.reference.gateway_process import ReferenceProcess
from tests.conftest import CHILD_TIMEOUT_S, REPO


def test_standalone_reference_gives_the_same_verdict(suite, clean_run, tmp_path):
    bare = clean_run("mindproxy")
    with ReferenceProcess("mindproxy", config_path=tmp_path / "target.yaml") as gateway:
        remote = suite("--target", gateway.url + "/v1", "--target-config", str(gateway.config_path),
                       "--profile", "mindproxy")
    assert remote.returncode == bare.returncode == 0, remote.output[-3000:]
    assert remote.report["target"]["reference"] is False
    assert remote.verdict == bare.verdict
    assert {r["id"]: r["status"] for r in remote.report["requirements"]} == {
        r["id"]: r["status"] for r in bare.report["requirements"]
    }


def test_cli_reference_writes_config(tmp_path):
    config = tmp_path / "target.yaml"
    process = subprocess.Popen(
        [sys.executable, "-m", "conformance", "reference", "--profile", "pyai", "--port", "0",
         "--write-config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("READY http://127.0.0.1:"), line + process.stderr.read()
        text = config.read_text()
        assert "roles:" in text and "billing:" in text
        assert oct(config.stat().st_mode & 0o777) == "0o600"
    finally:
        process.terminate()
        process.wait(timeout=CHILD_TIMEOUT_S)


def test_installed_wheel_runs_outside_the_repo(tmp_path):
    """Build the wheel, install it into a fresh venv, run the shipped suite from an empty directory."""
    dist = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO)],
                           capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    wheel = next(dist.glob("gateway_conformance-*.whl"))
    env_dir = tmp_path / "venv"
    # The running interpreter's site-packages supply the dependencies (no network needed), whether
    # they live in the system interpreter or in a fresh virtualenv: listed in a .pth file, so they
    # come after the venv's own site-packages and none of their .pth files (the checkout's editable
    # install) is processed. The wheel is installed into the venv, so `conformance` is imported from
    # it, not from this checkout.
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, check=True).stdout.strip()
    running = [p for p in sys.path if p.rstrip("/").endswith(("site-packages", "dist-packages")) and os.path.isdir(p)]
    with open(os.path.join(purelib, "_running_interpreter_deps.pth"), "w", encoding="utf-8") as pth:
        pth.write("\n".join(running) + "\n")
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)],
                             capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert install.returncode == 0, install.stderr[-2000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    where = subprocess.run([str(python), "-c", "import conformance, conformance.contract.resources as r; "
                            "print(conformance.__file__); print(r.SCHEMAS_DIR); print(r.PROFILES_DIR)"],
                           cwd=work, capture_output=True, text=True, env=env, timeout=CHILD_TIMEOUT_S)
    assert str(env_dir) in where.stdout and str(REPO) not in where.stdout, where.stdout + where.stderr
    with ReferenceProcess("pyai", config_path=tmp_path / "target.yaml") as gateway:
        for command in (
            [str(env_dir / "bin" / "gateway-conformance"), "run", "-q", "--target", gateway.url,
             "--target-config", str(gateway.config_path), "--report", str(work / "a.json")],
            [str(python), "-m", "pytest", "-q", "--pyargs", "conformance.suite", "--target", gateway.url,
             "--target-config", str(gateway.config_path), "--report", str(work / "b.json")],
        ):
            done = subprocess.run(command, cwd=work, capture_output=True, text=True, env=env, timeout=CHILD_TIMEOUT_S)
            assert "verdict:" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
            assert "Traceback" not in done.stdout + done.stderr
    assert (work / "a.json").exists() and (work / "b.json").exists()
    shutil.rmtree(env_dir, ignore_errors=True)
