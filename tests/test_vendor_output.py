"""What a vendor reads: short failure blocks, blame on the config not the gateway, no credential in
the target URL, an early stop on a target too slow to answer, bounded evidence, a certificate-like
HTML report and honest citations. Each test is a run that failed before issue 15's change."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import CHILD_TIMEOUT_S
from tests.hostile import HostileServer

KEY = "sk-vendor-0123456789abcdef0123456789abcdef"


def _failure_blocks(output: str) -> list[str]:
    section = output.split(" FAILURES ", 1)[1].split("\n", 1)[1]
    section = re.split(r"\n=+ ", section, maxsplit=1)[0]
    return [b for b in re.split(r"(?m)^_{3,} .+ _{3,}$", section) if b.strip()]


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
        # curl; a WebSocket handshake's own command (curl cannot do ws); a burst's loop of curls
        assert re.match(r"  reproduce: (curl |python -m conformance\.transport\.ws_probe |for i in \$\(seq \d+\); do curl )",
                        lines[3]), block
        assert len(lines) == 4, block
    # no fixture reprs, no test source, no rewritten `assert` repeat
    assert "Profile(" not in run.output and "def test_" not in run.output and "\nE " not in run.output
    # a fuzz finding's own curl line is not printed a second time
    fuzz = suite("-n0", "-k", "test_fuzz_raw_body", defects=("html_415_for_wrong_content_type",))
    (block,) = _failure_blocks(fuzz.output)
    assert block.count("curl ") == 1 and "FUZ-1 (MUST)" in block and "--hypothesis-seed" in block, block
    # pytest's traceback is still there for whoever debugs the suite
    long = suite("-n0", "--tb=long", "-k", "test_request_id_present and no_credentials", defects=("no_request_id",))
    assert "def test_request_id_present" in long.output and "\nE " in long.output, long.output[-2000:]


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


def test_a_conformant_html_report_shows_every_requirement():
    """Published as it is, the page lists each requirement with level, status and tests; before, every
    row of a conformant report was hidden until a box was ticked."""
    from conformance.report.render.html import render_html
    from tests.test_render import make_report, row

    report = make_report(row("ENV-1", "passed"), row("HDR-2", "passed"), row("SEC-2", "passed", "SHOULD"))
    page = render_html(report)
    boxes = re.findall(r'<input type="checkbox" value="(\w+)"( checked)?>', page)
    assert boxes and all(checked for _, checked in boxes), boxes
    for rid, level in (("ENV-1", "MUST"), ("HDR-2", "MUST"), ("SEC-2", "SHOULD")):
        cells = re.search(rf'<tr data-status="passed" id="{rid}">(.*?)</tr>', page, re.S)
        assert cells and f"<td>{level}</td>" in cells.group(1) and ">passed<" in cells.group(1)
        assert "1 test(s)" in cells.group(1) and f"test_{rid.lower().replace('-', '_')}" in cells.group(1)


def test_evidence_is_bounded_and_deduplicated():
    """FUZ-2 sends 1.1 MB bodies and 8 KB headers; a hostile target answers with a megabyte; several
    tests cite one shared exchange. The evidence of a requirement stays a few kilobytes."""
    import httpx

    from conformance.contract.profiles import load_profile
    from conformance.report.results import MAX_EVIDENCE_ITEMS, Results, TestResult
    from conformance.transport.client import Exchange
    from conformance.transport.redact import Redactor

    big = Exchange(method="POST", url="http://127.0.0.1:9/v1/chat/completions?q=" + "q" * 6000,
                   request_headers={"authorization": "Bearer " + "A" * 8000, **{f"x-h{i}": "v" * 900 for i in range(80)}},
                   request_body=b'{"pad": "' + b"a" * 1_100_000 + b'"}', status=501,
                   headers=httpx.Headers({"content-type": "text/html", "x-junk": "j" * 100_000}),
                   body=b"<html>" + b"x" * 1_000_000, truncated=True)
    evidence = big.evidence(Redactor())
    size = len(json.dumps(evidence))
    assert size < 64_000, size
    assert "[truncated: " in evidence["curl"] and "[truncated: " in evidence["response"]["body"]
    assert "[truncated: " in evidence["request"]["body"] and "more headers" in evidence["curl"]

    results = Results(load_profile("pyai"))
    shared = dict(evidence)
    results.extend(TestResult(nodeid=f"t{i}", requirement="FUZ-1", outcome="failed", reason="x",
                              evidence=[shared, {**shared, "curl": f"curl {i}"}]) for i in range(20))
    row = next(r for r in results.requirements() if r["id"] == "FUZ-1")
    assert len(row["evidence"]) == MAX_EVIDENCE_ITEMS and row["evidence"][0] == shared
    assert len({json.dumps(e, sort_keys=True) for e in row["evidence"]}) == MAX_EVIDENCE_ITEMS
    assert row["evidence_omitted"] == 21 - MAX_EVIDENCE_ITEMS
    assert len(json.dumps(row)) < 6 * 64_000


def test_curl_lines_escape_control_characters():
    from conformance.transport.client import Exchange
    from conformance.transport.redact import Redactor

    exchange = Exchange(method="POST", url="http://127.0.0.1:9/v1/chat/completions", request_headers={},
                        request_body=b"\x00\x1b[31m'")
    curl = exchange.curl(Redactor())
    assert "\x00" not in curl and "\x1b" not in curl and "$'\\x00\\x1b[31m\\''" in curl


def _reference_config(tmp_path, process, change) -> str:
    import yaml

    config = yaml.safe_load(process.config_path.read_text())
    change(config)
    path = tmp_path / "target-changed.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_a_wrong_management_base_url_is_the_configs_fault(suite, tmp_path):
    """Before: PRB-1..3 failed with "no response", blaming the gateway for our config."""
    from conformance.reference.gateway_process import ReferenceProcess

    def unreachable(config):
        config["management"]["base_url"] = "http://127.0.0.1:9/api"

    def not_a_route(config):
        config["management"]["base_url"] = config["target"].rstrip("/") + "/nowhere"

    for change, needle in ((unreachable, "management.base_url"), (not_a_route, "is not a management route")):
        with ReferenceProcess("pyai") as process:
            run = suite("-n0", "--target", process.url, "--target-config", _reference_config(tmp_path, process, change),
                        "-k", "test_management")
        for requirement in ("PRB-1", "PRB-2", "PRB-3"):
            row = next(r for r in run.report["requirements"] if r["id"] == requirement)
            assert row["status"] == "inconclusive" and needle in row["reason"], (row, run.output[-2000:])
        assert not run.failed(), run.output[-3000:]


def test_an_unreachable_billing_host_is_inconclusive(suite, tmp_path):
    from conformance.reference.gateway_process import ReferenceProcess

    def unreachable(config):
        for view in config["billing"].values():
            if isinstance(view, dict) and "url" in view:
                view["url"] = "http://127.0.0.1:9/oracle/{key_id}"

    with ReferenceProcess("pyai") as process:
        run = suite("-n0", "--target", process.url, "--target-config", _reference_config(tmp_path, process, unreachable),
                    "-k", "test_charging")
    assert not run.failed(), run.output[-3000:]
    rows = [r for r in run.report["requirements"] if r["id"].startswith("CHG-") and r["tests"]]
    assert rows and all(r["status"] in ("inconclusive", "skipped") for r in rows), rows
    assert any("billing." in r["reason"] for r in rows), rows


def test_a_static_file_server_stops_the_run_in_one_line(tmp_path):
    """Pointed at `python -m http.server`, the suite ran everything (2,324 lines, 100 failures)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from tests.test_user_errors import assert_one_line, run_pytest

    (tmp_path / "index.html").write_text("<html>hello</html>")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code, output, _ = run_pytest("--target", f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    assert code != 0
    assert_one_line(output, "is not an OpenAI-compatible JSON API")
    assert "--target" in output


SEEDS = {"mindproxy": "000_", "pyai": "004_"}
# Lines of the seeds that are marketing or page chrome, not contract: never quoted as a rule.
NOT_NORMATIVE = ("Handle errors once, ship with confidence.",
                 "Start free with $50 in free credits - stable codes mean your retry logic won't drift.",
                 "No credit card - OpenAI-compatible - cancel anytime", "Gateway: gateway.mindproxy.ai", "Skip to content")
TABLE_HEADERS = ("code | HTTP | Meaning", "HTTP | type | Meaning", "Header | Meaning")


def _squash(text: str) -> str:
    """Compare text as a reader sees it: no whitespace, table cells run together, the code fence's `json` tag gone."""
    text = "\n".join(line for line in text.splitlines() if line.strip() != "json")
    return re.sub(r"[\s|]+", "", text)


@pytest.mark.parametrize("profile_id", sorted(SEEDS))
def test_every_citation_is_a_normative_sentence_of_the_contract(profile_id):
    """Before: pyai quoted "Start free with $50 in free credits", table headers and a JSON fragment."""
    from pathlib import Path

    from conformance.contract.profiles import load_profile
    from conformance.contract.requirements import registry
    from conformance.report.results import applicable_requirements

    seed_dir = Path(__file__).resolve().parents[2] / "shared" / "seeds"  # ../shared beside the checkout
    seeds = sorted(seed_dir.glob(SEEDS[profile_id] + "*.txt")) if seed_dir.is_dir() else []
    seed = seeds[0].read_text(encoding="utf-8") if seeds else None
    chrome = [_squash(line) for line in NOT_NORMATIVE]
    for requirement in registry().values():
        basis = requirement.bases.get(profile_id)
        if basis is None:
            continue
        if basis.is_practice:
            assert basis.quote is None, f"{requirement.id}: a practice row carries a quote on {profile_id}"
            assert len(basis.rationale.split()) >= 8 and basis.cite, (requirement.id, basis)
            continue
        if basis.basis == "rfc":  # the RFC's words are not in the seed; the contract's invoking words are
            quote = basis.invoked_by["quote"]
        else:
            quote = basis.quote
        assert not quote.lstrip().startswith(("{", '"')) and quote not in TABLE_HEADERS, (requirement.id, quote)
        assert len(quote.split()) >= 4 and "..." not in quote and "…" not in quote, (requirement.id, quote)
        assert not any(_squash(quote) in c or c in _squash(quote) for c in chrome), (requirement.id, quote)
        if seed is not None:
            assert _squash(quote) in _squash(seed), f"{requirement.id}: {quote!r} is not in the {profile_id} contract"
    for requirement in applicable_requirements(load_profile(profile_id)):
        assert profile_id in requirement.bases, f"{requirement.id} has no basis for {profile_id}"


def test_a_silent_contract_is_reported_as_silent(tmp_path):
    from conformance.contract.profiles import load_profile
    from conformance.report.results import Results, TestResult

    results = Results(load_profile("pyai"))
    results.add(TestResult(nodeid="t", requirement="CHG-1", outcome="failed", reason="charged"))
    row = next(r for r in results.requirements() if r["id"] == "CHG-1")
    assert row["basis"]["kind"] == "practice" and "quote" not in row["basis"]
    assert "not charged" in row["basis"]["rationale"] and row["basis"]["cite"]
    from conformance.report.render.html import render_html
    from tests.test_render import make_report

    assert "practice (beyond the contract)" in render_html(make_report(row))


def test_standalone_reference_says_what_next_and_logs_no_false_errors(tmp_path):
    """Before: only READY, then `ERROR: ASGI callable returned without completing handshake.` for
    every realtime refusal the reference makes on purpose (~80 per run)."""
    import subprocess
    import sys

    from tests.conftest import run_suite

    config = tmp_path / "target.yaml"
    err = tmp_path / "stderr.txt"
    with open(err, "wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "conformance.reference", "--write-config", str(config)],
                                   stdout=subprocess.PIPE, stderr=sink, text=True)
        try:
            url = process.stdout.readline().split()[1]
            run = run_suite(tmp_path, "-n0", "--target", url, "--target-config", str(config),
                            "-k", "test_malformed_agent_id_refused")
        finally:
            process.terminate()
            process.wait(timeout=CHILD_TIMEOUT_S)
    assert run.report is not None and run.status("MAP-5") is not None, run.output[-2000:]
    logged = err.read_text()
    assert "without completing handshake" not in logged, logged
    # `gateway-conformance run` works from any directory; `pytest --target` only inside the repository
    assert f"gateway-conformance run --target {url} --target-config {config}" in logged, logged


def test_matrix_columns_are_headed_by_gateway_names(tmp_path):
    from conformance.cli import main
    from tests.test_render import make_report, row

    paths = []
    for name, url, reference in (("run-1", "https://gw-a.example/v1", False), ("run-2", "https://gw-b.example", False),
                                 ("ref", "reference", True), ("ref-again", "reference", True)):
        report = make_report(row("ENV-1", "passed"))
        report["target"] = {"url": url, "reference": reference}
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(report))
        paths.append(str(path))
    out = tmp_path / "matrix.html"
    assert main(["render", "--matrix", "--html", str(out), *paths]) == 0
    heads = re.findall(r"<th>([^<]+)<br>", out.read_text())
    assert heads == ["gw-a.example", "gw-b.example", "reference gateway (ref)", "reference gateway (ref-again)"], heads


def test_readme_and_template_agree():
    """The newcomer's notes: README exported GW_PK where `init` writes GW_PUBLISHABLE, and the
    template had no billing.balance; the options table missed half the options."""
    import yaml

    from conformance.contract.templates import target_config_template
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    template = target_config_template("pyai")
    assert "balance" in yaml.safe_load(template)["billing"]
    for variable in set(re.findall(r"\$\{(GW_\w+)\}", readme)):
        assert variable in template, f"README uses {variable}, which `gateway-conformance init` never writes"
    for option in ("--baseline", "--fuzz-examples", "--hypothesis-seed", "--reference-defect", "--tb=long"):
        assert f"| `{option}" in readme, option


def test_reasons_say_what_more_counts_and_redact_in_one_form():
    from conformance.contract.profiles import load_profile
    from conformance.report.results import Results, TestResult
    from conformance.transport.client import GatewayClient

    results = Results(load_profile("pyai"))
    results.extend(TestResult(nodeid=f"t{i}", requirement="ENV-1", outcome="failed", reason="bad (+1 more problem)")
                   for i in range(3))
    reason = next(r for r in results.requirements() if r["id"] == "ENV-1")["reason"]
    assert reason == "bad (+1 more problem) (and 2 more failed tests)", reason

    client = GatewayClient("http://127.0.0.1:9", timeout_s=0.5)
    client.redactor.add(KEY)
    client.request("GET", "/v1/models", authorization="Bearer")  # a fuzzer's junk is no secret
    exchange = client.request("GET", "/v1/models", api_key=KEY)
    client.close()
    assert "authorization: Bearer sk-…REDACTED" in exchange.curl(client.redactor)
    assert client.redactor.text(f"authorization: Bearer {KEY}") == "authorization: Bearer sk-…REDACTED"
