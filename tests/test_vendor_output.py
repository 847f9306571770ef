"""What a vendor reads: short failure blocks, blame on the config not the gateway, no credential in
the target URL, an early stop on a target too slow to answer, bounded evidence, a certificate-like
HTML report and honest citations. Each test is a run that failed before issue 15's change."""

from __future__ import annotations

import json
import re

import pytest

from tests.hostile import HostileServer

KEY = "sk-vendor-0123456789abcdef0123456789abcdef"


def _failure_blocks(output: str) -> list[str]:
    section = output.split(" FAILURES ", 1)[1].split("\n", 1)[1]
    section = re.split(r"\n=+ ", section, maxsplit=1)[0]
    return [b for b in re.split(r"(?m)^_{3,} .+ _{3,}$", section) if b.strip()]


@pytest.mark.slow
def test_failure_output_is_short_and_reproducible(suite, tmp_path):
    run = suite("-n0", "-k", "test_request_id_present or test_message_non_empty", defects=("no_request_id",))
    assert run.returncode == 1, run.output[-2000:]
    blocks = _failure_blocks(run.output)
    assert len(blocks) >= 5, run.output[-3000:]
    for block in blocks:
        lines = block.strip().splitlines()
        assert re.match(r"HDR-1 \(MUST\)$", lines[0]), block
        assert lines[1].startswith("  problem:   ") and "no x-request-id header" in lines[1], block
        assert lines[2].startswith("  contract:  "), block
        assert lines[3].startswith("  reproduce: curl "), block
        assert len(lines) == 4, block
    # no fixture reprs, no test source, no rewritten `assert` repeat
    assert "Profile(" not in run.output and "def test_" not in run.output and "\nE " not in run.output
    # pytest's traceback is still there for whoever debugs the suite
    long = suite("-n0", "--tb=long", "-k", "test_request_id_present and no_credentials", defects=("no_request_id",))
    assert "def test_request_id_present" in long.output and "\nE " in long.output, long.output[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["silent", "drip"])
def test_a_target_too_slow_to_answer_stops_the_run(suite, tmp_path, mode):
    """It answers the reachability probe, then lets every request run into request_timeout_s: the run
    stops after a few in a row (counted in requests, not seconds) with one line naming the target."""
    from conformance.transport.client import SLOW_STREAK

    config = tmp_path / "target.json"
    config.write_text(json.dumps({"request_timeout_s": 1, "roles": {"valid": {"api_key": KEY}}}))
    with HostileServer(mode, probe_ok=True) as server:
        run = suite("-n0", "--target", server.url, "--target-config", str(config))
    lines = [line for line in run.output.splitlines() if "request_timeout_s (1 s)" in line]
    assert lines and server.url in lines[0], run.output[-3000:]
    assert run.returncode != 0
    assert run.report is not None and run.report["requests_sent"] <= SLOW_STREAK + 2, run.output[-3000:]


SECRET = "s3cret-hunter2-0123456789"


@pytest.mark.parametrize("args", [
    ["--target", f"http://admin:{SECRET}@127.0.0.1:9"],
    ["--target", f"http://127.0.0.1:9/v1?key={SECRET}"],
    ["--target", "http://127.0.0.1:9", "--target-config",
     json.dumps({"management": {"base_url": f"http://ops:{SECRET}@127.0.0.1:9/api"}})],
    ["--target", "http://127.0.0.1:9", "--target-config",
     json.dumps({"billing": {"url": f"http://127.0.0.1:9/spend/{{request_id}}?api_key={SECRET}"}})],
], ids=["userinfo", "query-key", "management-userinfo", "billing-query"])
def test_credentials_in_a_url_are_refused_in_one_line(args):
    """httpx would turn userinfo into Basic auth, replacing the role's Bearer key, and the URL is
    printed everywhere: the run is refused before any request, in one line that shows no secret."""
    from tests.test_user_errors import assert_one_line, run_pytest

    code, output, _ = run_pytest(*args)
    assert code != 0
    assert_one_line(output, "never in a URL")
    assert SECRET not in output
