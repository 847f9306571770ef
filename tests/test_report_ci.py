"""The report as a CI gate, end to end: baseline, diff, suite crashes, curl evidence that reproduces
the defect by hand, the HTML page in a real browser, and no credential in any file a run writes.

Each test runs the suite as a user would (subprocess) against the reference gateway with defects.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.contract.target_config import load_config
from conformance.reference.gateway_process import ReferenceProcess
from conformance.report.json_report import validate_report
from tests.conftest import CHILD_TIMEOUT_S, REPO, run_suite

NO_STEP_SUMMARY = {"GITHUB_STEP_SUMMARY": ""}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)


def run_with_plugin(tmp_path: Path, name: str, source: str, *args: str):
    """The suite with an extra pytest plugin `name` (source given) loaded by `-p`: crash injection, probes."""
    (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    env = {**NO_STEP_SUMMARY, "PYTHONPATH": os.pathsep.join([str(REPO), str(tmp_path)])}
    return run_suite(tmp_path, "-p", name, *args, env=env)


def write_baseline(path: Path, *entries: str) -> Path:
    path.write_text("deviations:\n" + "".join(entries), encoding="utf-8")
    return path


def test_baseline_accepts_known_deviation_and_diff_names_the_new_failure(tmp_path):
    baseline = write_baseline(tmp_path / "known-deviations.yaml",
                              "  - {id: ENV-4, reason: 402 messages are empty until GW-42 ships, expires: 2999-01-01}\n")
    known = run_suite(tmp_path, "--baseline", str(baseline), defects=("empty_message",), env=NO_STEP_SUMMARY)
    assert known.returncode == 0, known.output[-3000:]
    assert "1 known deviation (ENV-4)" in known.output
    gated = cli("gate", str(tmp_path / "report-0.json"))
    assert gated.returncode == 0, gated.stdout  # the gate on the same report agrees with pytest
    validate_report(known.report)
    row = next(r for r in known.report["requirements"] if r["id"] == "ENV-4")
    assert row["status"] == "failed" and row["known_deviation"]["state"] == "known"
    assert known.report["verdict"] == "non-conformant"  # the verdict stays honest
    assert known.report["baseline"]["unlisted_failures"] == []

    # pyai names no request-id header: HDR-1 (and UPS-1) are suite practice there, so the new failure
    # closes the gate only with --require-practice (the verdict alone is the contract's).
    both = run_suite(tmp_path, "--baseline", str(baseline), "--require-practice", defects=("empty_message", "no_request_id"),
                     env=NO_STEP_SUMMARY)
    assert both.returncode == 1, both.output[-3000:]
    assert cli("gate", str(tmp_path / "report-1.json")).returncode == 1
    # HDR-1, and UPS-1 with it: a provider failure reaches the client without the gateway's request id.
    assert both.report["baseline"]["unlisted_failures"] == ["HDR-1", "UPS-1"]
    assert both.report["baseline"]["known"] == ["ENV-4"]
    assert "not in the baseline: HDR-1" in both.output

    diff = cli("diff", str(tmp_path / "report-0.json"), str(tmp_path / "report-1.json"))
    assert diff.returncode == 1, diff.stdout + diff.stderr
    changes = [line for line in diff.stdout.splitlines() if line.startswith(("REGRESSION", "FIX", "CHANGE"))]
    assert changes and changes[0].startswith("REGRESSION") and any(" HDR-1 " in c for c in changes), diff.stdout
    assert "ENV-4" not in diff.stdout  # unchanged: still a known deviation


def test_expired_entry_counts_as_not_listed(tmp_path):
    baseline = write_baseline(tmp_path / "kd.yaml", "  - {id: ENV-4, reason: was due last year, expires: 2000-01-01}\n")
    run = run_suite(tmp_path, "--baseline", str(baseline), defects=("empty_message",), env=NO_STEP_SUMMARY)
    assert run.returncode == 1, run.output[-3000:]
    assert run.report["baseline"]["expired"] == ["ENV-4"]
    assert run.report["baseline"]["unlisted_failures"] == ["ENV-4"]


def test_a_suite_crash_is_error_and_incomplete_never_non_conformant(tmp_path):
    run = run_with_plugin(tmp_path, "gwc_inject_crash", (
        "import pytest\n\n"
        "@pytest.hookimpl(tryfirst=True)\n"
        "def pytest_runtest_call(item):\n"
        "    if item.name == 'test_message_non_empty[no_credentials]':\n"
        "        raise RuntimeError('injected crash inside the suite')\n"))
    assert run.returncode == 1, run.output[-3000:]
    validate_report(run.report)
    row = next(r for r in run.report["requirements"] if r["id"] == "ENV-4")
    assert row["status"] == "error", row
    assert "suite error" in row["reason"] and "injected crash" in row["reason"]
    assert run.failed() == set()
    assert run.verdict == "incomplete"
    assert run.report["summary"]["MUST"]["error"] == 1


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    """A reference gateway started on its own, as a vendor's staging gateway would be."""
    gateway = ReferenceProcess("pyai", defects=("html_404", "echo_key_in_401"))
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(scope="module")
def artifacts(standalone, tmp_path_factory):
    """One full CI-style run against the standalone gateway, and every file it leaves behind."""
    out = tmp_path_factory.mktemp("artifacts")
    summary = out / "step-summary.md"
    run = run_suite(out, "--target", standalone.url, "--target-config", str(standalone.config_path),
                    "--junitxml", str(out / "pytest-junit.xml"), env={"GITHUB_STEP_SUMMARY": str(summary)})
    (out / "run.log").write_text(run.output, encoding="utf-8")
    report = out / "report-0.json"
    rendered = cli("render", str(report), "--html", str(out / "report.html"), "--md", str(out / "report.md"),
                   "--badge", str(out / "badge.svg"), "--junit", str(out / "junit.xml"))
    assert rendered.returncode == 0, rendered.stderr
    (out / "render.log").write_text(rendered.stdout + rendered.stderr, encoding="utf-8")
    return out, run


def test_failed_requirement_carries_a_curl_line_that_reproduces_the_defect(standalone, artifacts):
    _out, run = artifacts
    assert run.returncode == 1 and run.verdict == "non-conformant"
    validate_report(run.report)
    row = next(r for r in run.report["requirements"] if r["id"] == "MAP-4")
    assert row["status"] == "failed" and row["evidence"], row
    curl = row["evidence"][0]["curl"]
    assert curl.startswith("curl ") and standalone.url in curl
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    valid_key = load_config(str(standalone.config_path)).role("valid")["api_key"]
    argv = [valid_key if "REDACTED" in a else a for a in shlex.split(curl.replace("sk-…REDACTED", valid_key), comments=True)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    status_line = done.stdout.splitlines()[0]
    assert " 404" in status_line, done.stdout[:500]
    assert re.search(r"(?im)^content-type: text/html", done.stdout), done.stdout[:500]  # the defect, by hand


def test_no_credential_in_any_artifact(standalone, artifacts):
    out, _ = artifacts
    secrets = load_config(str(standalone.config_path)).secrets()
    assert len(secrets) >= 5, secrets
    files = [p for p in out.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"report-0.json", "report.html", "report.md", "badge.svg", "junit.xml", "pytest-junit.xml",
            "step-summary.md", "run.log"} <= names, names
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for secret in secrets:
            assert secret not in text, f"a credential leaked into {path.name}"
        # keys the suite made up itself (an unknown key the defect echoes back) are masked too
        assert not re.search(r"sk-[A-Za-z0-9_-]{20,}", text), f"a key-shaped string leaked into {path.name}"
    assert "REDACTED" in (out / "report-0.json").read_text(encoding="utf-8")


def test_step_summary_and_junit_artifacts(artifacts):
    out, _ = artifacts
    summary = (out / "step-summary.md").read_text(encoding="utf-8")
    assert summary.index("### Failed") < summary.index("<details><summary>Passed")
    pytest_junit = (out / "pytest-junit.xml").read_text(encoding="utf-8")
    assert '<property name="requirement" value="MAP-4"' in pytest_junit
    assert "gateway_conformance" not in pytest_junit and "'evidence'" not in pytest_junit
    import xml.etree.ElementTree as ET

    cases = ET.parse(out / "junit.xml").getroot().findall("testcase")
    map4 = next(c for c in cases if c.get("name", "").startswith("MAP-4"))
    props = {p.get("name"): p.get("value") for p in map4.iter("property")}
    assert props == {"requirement": "MAP-4", "level": "MUST", "scope": "core", "basis": "practice"}  # pyai names no 404
    # A practice requirement not kept is shown, not failed, unless --require-practice: a JUnit gate
    # must not go red where the exit status stays 0. The contract's own failure (ENV-1: the 404 is
    # not the envelope) is a JUnit failure.
    assert map4.find("failure") is None and map4.find("skipped") is not None
    env1 = next(c for c in cases if c.get("name", "").startswith("ENV-1"))
    assert env1.find("failure") is not None


def test_html_page_renders_in_headless_chromium(artifacts, tmp_path):
    out, _ = artifacts
    html = (out / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "the page must not load external assets"
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed")
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--window-size=1280,1200", f"--screenshot={shot}", (out / "report.html").as_uri()],
        capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
    )
    assert shot.exists() and shot.stat().st_size > 10_000, done.stderr[-2000:]


def test_junitxml_gets_scalars_only_while_plugins_still_see_structured_properties(tmp_path):
    junit = tmp_path / "junit.xml"
    run = run_with_plugin(tmp_path, "gwc_probe", (
        "seen = []\n"
        "def pytest_runtest_setup(item):\n"
        "    item.user_properties.append(('findings', {'observer': 'a finding dict'}))\n"
        "def pytest_runtest_logreport(report):\n"
        "    if report.when == 'teardown':\n"
        "        seen.extend(v for n, v in report.user_properties if n == 'findings')\n"
        "def pytest_sessionfinish(session):\n"
        "    print('PROBE-SAW', len(seen))\n"), "--junitxml", str(junit), "-k", "test_error_envelope_valid")
    # Only ENV-1's tests ran: every other MUST is not checked, so the run is incomplete and red.
    assert run.returncode == 1 and run.verdict == "incomplete", run.output[-3000:]
    seen = int(re.search(r"PROBE-SAW (\d+)", run.output).group(1))
    assert seen > 0  # other plugins still get the dict
    xml = junit.read_text(encoding="utf-8")
    assert "a finding dict" not in xml
    assert xml.count('<property name="requirement" value="ENV-1"') == seen


def test_bad_baseline_stops_the_run_in_one_line(tmp_path):
    run = run_suite(tmp_path, "--baseline", str(tmp_path / "missing.yaml"), env=NO_STEP_SUMMARY)
    assert run.returncode == 4, run.output[-2000:]
    assert "baseline" in run.output and "missing.yaml: cannot read" in run.output
    assert "Traceback" not in run.output and run.report is None
