"""Interop: the suite against a real gateway it did not write — the LiteLLM proxy, offline.

Starts the proxy from examples/litellm (its own venv, made by examples/litellm/setup.sh), runs the
suite against it and compares the failing requirement ids with the committed
examples/litellm/report.json, so a change in our verdict on a real gateway is noticed (then
re-run, re-read FINDINGS.md, commit both). Locally a missing install skips; in CI (CI=true) it
fails, because .ci/run installs it and a silent skip would hide a broken set-up.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from tests.conftest import CHILD_TIMEOUT_S, REPO, run_suite

EXAMPLE = REPO / "examples" / "litellm"
COMMITTED = EXAMPLE / "report.json"
pytestmark = [pytest.mark.interop, pytest.mark.timeout(1200)]


def _proxy_module():
    spec = importlib.util.spec_from_file_location("gwc_litellm_proxy", EXAMPLE / "proxy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def failing(report: dict) -> set[str]:
    return {r["id"] for r in report["requirements"] if r["status"] == "failed"}


@pytest.fixture(scope="module")
def litellm_url(tmp_path_factory: pytest.TempPathFactory):
    proxy = _proxy_module()
    if proxy.litellm_executable() is None:
        reason = f"LiteLLM proxy not installed in {proxy.venv_dir()}: run examples/litellm/setup.sh"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI: {reason} (.ci/run installs it; a skip here would hide a broken set-up)")
        pytest.skip(reason)
    log = tmp_path_factory.mktemp("litellm") / "proxy.log"
    with proxy.LiteLLMProxy(log_path=log) as running:  # and the fault-injecting provider it routes to
        yield running


def test_litellm_findings_unchanged(litellm_url, tmp_path: Path) -> None:
    # ~3.5 min on 2 cores: LiteLLM retries each provider fault twice and waits a provider 429 in-request.
    run = run_suite(tmp_path, "--target-config", str(EXAMPLE / "target.yaml"),
                    env={"GWC_LITELLM_URL": litellm_url.url, "GWC_PROVIDER_URL": litellm_url.provider_url}, timeout=CHILD_TIMEOUT_S)
    assert run.report is not None, run.output[-3000:]
    assert run.report["target"]["reference"] is False
    committed = json.loads(COMMITTED.read_text())
    now, before = failing(run.report), failing(committed)
    assert now == before, (
        f"the verdict on LiteLLM changed: newly failing {sorted(now - before)}, no longer failing "
        f"{sorted(before - now)}; re-run examples/litellm (README) and update report.json + FINDINGS.md"
    )
    assert run.verdict == committed["verdict"]
