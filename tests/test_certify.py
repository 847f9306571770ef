"""Issue #23: certify → verify (and every tampering verify must catch), replay, the registry site.

The bundles are real: `gateway-conformance certify` against the reference gateway, clean and with
the `no_retry_after` defect. Each tampering test edits a copy the way a forger would, often
covering its tracks (manifest recomputed, renderings re-rendered), and `verify` must still exit 1
naming what changed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conformance.certify import har
from conformance.certify.bundle import RENDERINGS, _render
from conformance.certify.manifest import check_manifest, write_manifest
from conformance.certify.verify import credential_scan, verify
from conformance.contract.profiles import load_profile
from conformance.report.results import Results
from conformance.transport.client import Exchange
from conformance.transport.redact import Redactor
from tests import runcost
from tests.conftest import CHILD_TIMEOUT_S

# What a replay of a few exchanges may use beyond `--help`'s start-up: measured 0.6-0.7 CPU-s (it
# imports the client and the checks); a suite run costs 4 CPU-s and more (pytest, hypothesis, ~280 requests).
REPLAY_CPU_S = 2.0


def gwc(*args: str, timeout: float = CHILD_TIMEOUT_S, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def certify(out: Path, *args: str) -> Path:
    with runcost.measured("certify runs"):
        done = gwc("certify", "-q", "-p", "no:randomly", "--out", str(out), *args)
    assert (out / "MANIFEST.sha256").is_file(), done.stdout[-3000:] + done.stderr[-2000:]
    return out


# Bundles are built once per self-test session, whichever xdist worker asks first (`built_once`): as
# module fixtures each worker certified them again (6 certify runs where 3 do). Tests copy to edit.
@pytest.fixture(scope="session")
def clean_bundle(built_once) -> Path:
    return built_once("certify-reference", lambda d: certify(d / "reference"))


@pytest.fixture(scope="session")
def defect_bundle(built_once) -> Path:
    return built_once("certify-no_retry_after",
                      lambda d: certify(d / "no_retry_after", "--reference-defect", "no_retry_after"))


def copy(bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle, tmp_path / "bundle"))


def edit_json(path: Path, change) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def verify_cli(bundle: Path) -> subprocess.CompletedProcess[str]:
    return gwc("verify", str(bundle))


# -- fast: the parts, no run ----------------------------------------------------------------------

def _exchange() -> Exchange:
    exchange = Exchange("POST", "http://127.0.0.1:9/v1/chat/completions",
                        {"authorization": "Bearer sk-test-0123456789abcdef", "content-type": "application/json"},
                        b'{"model":"m"}', label="scenario:x", presented_credentials=("sk-test-0123456789abcdef",))
    exchange.status = 429
    exchange.headers = httpx.Headers([("content-type", "application/json"), ("retry-after", "3")])
    exchange.body = b'{"error":{"message":"slow down","code":"rate_limit_exceeded"}}'
    return exchange


def test_har_entry_masks_names_the_role_and_round_trips():
    redactor = Redactor(["sk-test-0123456789abcdef"])
    item = har.entry(_exchange(), redactor, uid="c-1", test="t::x", requirement="HDR-2",
                     roles={"sk-test-0123456789abcdef": "rate_limited"}, inference=True)
    assert "sk-test-0123456789abcdef" not in json.dumps(item)
    assert item["_role"] == "rate_limited" and item["_requirement"] == "HDR-2" and not item["_truncated"]
    back = har.exchange(item)
    assert (back.status, back.header("retry-after"), back.json()["error"]["code"]) == (429, "3", "rate_limit_exceeded")
    doc = har.document(har.merge_references([item, {"_ref": "c-1", "_test": "t::y", "_requirement": "HDR-3"}]))
    assert [e["_id"] for e in har.for_requirement(doc, "HDR-3")] == ["c-1"]


def test_a_cut_body_is_marked_truncated():
    exchange = _exchange()
    exchange.body = b"x" * 10_000
    item = har.entry(exchange, Redactor(), uid="c-1", test="t", requirement="ENV-1", roles={}, inference=True)
    assert item["_truncated"] is True


def test_manifest_names_changed_missing_and_unlisted_files(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    write_manifest(tmp_path)
    assert check_manifest(tmp_path) == []
    (tmp_path / "a.txt").write_text("A")
    (tmp_path / "b.txt").unlink()
    (tmp_path / "c.txt").write_text("c")
    problems = check_manifest(tmp_path)
    assert any(p.startswith("a.txt: changed") for p in problems)
    assert any(p.startswith("b.txt: listed") for p in problems)
    assert any(p.startswith("c.txt: not listed") for p in problems)


def test_credential_scan_flags_keys_but_not_masked_ones(tmp_path):
    (tmp_path / "ok.json").write_text('{"authorization": "Bearer sk-…REDACTED", "api_key": "REDACTED"}')
    (tmp_path / "bad.txt").write_text("line\ncurl -H 'authorization: Bearer sk-live-abcdefghijklmnop123456'\n")
    problems = credential_scan(tmp_path)
    assert len(problems) == 2 and all(p.startswith("bad.txt:2: looks like") for p in problems), problems
    assert not any("abcdefghijklmnop" in p for p in problems)  # the finding never repeats the key


# -- slow: real bundles ----------------------------------------------------------------------------

def test_certify_reference_then_verify_exits_0(clean_bundle):
    names = {p.name for p in clean_bundle.iterdir()}
    assert {"certificate.json", "report.json", "report.html", "summary.md", "badge.svg", "junit.xml",
            "evidence.har", "MANIFEST.sha256"} <= names
    certificate = json.loads((clean_bundle / "certificate.json").read_text())
    report = json.loads((clean_bundle / "report.json").read_text())
    assert certificate["verdict"] == "conformant" and certificate["implementation"]["name"]
    assert all(s["verdict"] == "conformant" for s in certificate["scopes"] if s["claimed"])
    assert certificate["command"].startswith("gateway-conformance certify")
    entries = json.loads((clean_bundle / "evidence.har").read_text())["log"]["entries"]
    assert len(entries) == report["requests_sent"]  # every exchange of the run, not only the failing ones
    done = verify_cli(clean_bundle)
    assert done.returncode == 0, done.stdout + done.stderr


def test_gathered_ahead_evidence_is_no_tests_own_and_misses_every_spend_window(clean_bundle):
    """The evidence gathered in the background while other tests ran is recorded as gathered ahead
    (no test sent it; the tests that read it cite it). The rate-limited key's lane presents that key
    only and starts after the rejection pass (the one spend window on it); so does the provider
    role's (`upstream`, a key the CHG control showed apart from `valid`'s); every other request
    gathered ahead goes after the last test that reads a key's spend (CHG-*, FUZ-3)."""
    entries = json.loads((clean_bundle / "evidence.har").read_text())["log"]["entries"]
    ahead = [i for i, e in enumerate(entries) if e["_test"].startswith("gathered ahead: ")]
    lanes = {entries[i]["_test"].removeprefix("gathered ahead: ") for i in ahead}
    # The rate-limited key's lane is always waited for; a single request another lane gathers may be
    # sent by its test first (then no lane sent it).
    assert {"upstream", "rate_limited"} <= lanes <= {"upstream", "rate_limited", "sdk", "streaming", "management",
                                                     "mapping", "headers"}, lanes
    assert all(entries[i]["_requirement"] == "" for i in ahead)
    cited = {m["requirement"] for i in ahead for m in entries[i].get("_citedBy", [])}
    assert {"UPS-1", "UPS-8", "HDR-4", "RTY-3", "ENV-6"} <= cited, cited
    windows = [i for i, e in enumerate(entries) if e["_requirement"].startswith("CHG-") or e["_requirement"] == "FUZ-3"]
    rejections = [i for i, e in enumerate(entries) if e["_requirement"] in ("CHG-1", "CHG-2", "CHG-3", "CHG-4")]
    assert windows and rejections
    def lane_of(i: int) -> str:
        return entries[i]["_test"].removeprefix("gathered ahead: ")

    # The provider role's lane did start before the last window, and UPS-5's rate-limited case went
    # on the rate-limited key's lane.
    assert any(lane_of(i) == "upstream" and max(rejections) < i < max(windows) for i in ahead)
    assert any(lane_of(i) == "rate_limited" and "UPS-5" in {m["requirement"] for m in entries[i].get("_citedBy", [])}
               for i in ahead)
    for i in ahead:
        lane = lane_of(i)
        if lane == "rate_limited":
            assert i > max(rejections) and entries[i].get("_role") in ("rate_limited", None), entries[i]["_label"]
        elif i < max(windows):
            assert lane == "upstream" and i > max(rejections) and entries[i].get("_role") in ("upstream", None), (
                lane, entries[i]["_label"], entries[i].get("_role"))
        else:
            assert i > max(windows), (lane, entries[i]["_label"])


def test_defect_bundle_verifies_and_names_the_failure(defect_bundle):
    certificate = json.loads((defect_bundle / "certificate.json").read_text())
    assert certificate["verdict"] == "non-conformant"
    assert next(r for r in certificate["requirements"] if r["id"] == "HDR-2")["status"] == "failed"
    assert verify(defect_bundle) == []


def test_edited_verdict_is_caught(clean_bundle, tmp_path):
    bundle = copy(clean_bundle, tmp_path)
    edit_json(bundle / "certificate.json", lambda d: d.update(verdict="non-conformant"))
    done = verify_cli(bundle)
    assert done.returncode == 1
    assert "certificate.json: changed" in done.stdout
    assert "certificate.json: verdict says 'non-conformant', but its requirement statuses make it 'conformant'" in done.stdout


def test_edited_verdict_with_a_recomputed_manifest_is_still_caught(defect_bundle, tmp_path):
    bundle = copy(defect_bundle, tmp_path)
    for name in ("certificate.json", "report.json"):
        edit_json(bundle / name, lambda d: d.update(verdict="conformant"))
    write_manifest(bundle)
    problems = verify(bundle)
    assert "certificate.json: verdict says 'conformant', but its requirement statuses make it 'non-conformant'" in problems
    assert not any("MANIFEST" in p or ": changed" in p for p in problems)
    assert verify_cli(bundle).returncode == 1


def test_deleted_failed_row_is_caught(defect_bundle, tmp_path):
    bundle = copy(defect_bundle, tmp_path)
    for name in ("certificate.json", "report.json"):
        edit_json(bundle / name, lambda d: d.update(requirements=[r for r in d["requirements"] if r["id"] != "HDR-2"]))
    write_manifest(bundle)
    done = verify_cli(bundle)
    assert done.returncode == 1
    assert "certificate.json: requirement HDR-2 is missing" in done.stdout


def test_one_changed_har_byte_is_caught(clean_bundle, tmp_path):
    bundle = copy(clean_bundle, tmp_path)
    path = bundle / "evidence.har"
    data = bytearray(path.read_bytes())
    at = data.index(b'"status": 200') + len(b'"status": 20')
    data[at] = ord("1")  # 200 → 201: still valid JSON, still a valid HAR
    path.write_bytes(bytes(data))
    done = verify_cli(bundle)
    assert done.returncode == 1
    assert "evidence.har: changed (its sha256 is not the one in MANIFEST.sha256)" in done.stdout


def test_failed_flipped_to_passed_is_contradicted_by_its_exchanges(defect_bundle, tmp_path):
    """The forger flips HDR-2 and fixes everything a recomputation could see: counts, verdict,
    renderings, manifest. The recorded 429s without Retry-After still contradict it."""
    bundle = copy(defect_bundle, tmp_path)
    profile = load_profile("pyai")

    def flip(doc):
        for row in doc["requirements"]:
            if row["id"] == "HDR-2":
                row.update(status="passed", reason="")
        doc["summary"] = Results(profile).summary(doc["requirements"])
        doc["verdict"] = Results.verdict(doc["requirements"])

    edit_json(bundle / "report.json", flip)
    edit_json(bundle / "certificate.json", flip)
    report = json.loads((bundle / "report.json").read_text())
    for name, kind in RENDERINGS.items():
        (bundle / name).write_text(_render(kind, report), encoding="utf-8")
    write_manifest(bundle)
    problems = verify(bundle)
    assert problems and all("HDR-2" in p for p in problems), problems
    assert any("HDR-2 is passed, but its recorded exchanges contradict it" in p and "no Retry-After" in p for p in problems)


def test_credential_looking_string_is_caught(clean_bundle, tmp_path):
    bundle = copy(clean_bundle, tmp_path)
    (bundle / "notes.txt").write_text("debug: export OPENAI_API_KEY=sk-proj-Abcdefghijklmnopqrstuvwx\n")
    write_manifest(bundle)
    done = verify_cli(bundle)
    assert done.returncode == 1
    assert "notes.txt:1: looks like an sk- API key" in done.stdout
    assert "Abcdefghijkl" not in done.stdout


class Standalone:
    def __init__(self, tmp_path: Path, *defects: str) -> None:
        self.config = tmp_path / f"target-{'-'.join(defects) or 'clean'}.yaml"
        args = [sys.executable, "-m", "conformance", "reference", "--port", "0", "--no-provider",
                "--write-config", str(self.config)]
        for defect in defects:
            args += ["--defect", defect]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        assert line.startswith("READY "), line + self.process.stderr.read()
        self.url = line.split()[1]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=CHILD_TIMEOUT_S)


@pytest.mark.parametrize("defects, expected", [(("no_retry_after",), 1), ((), 0)], ids=["same-defect", "clean"])
def test_replay_hdr2_fails_with_the_defect_and_passes_without(defect_bundle, tmp_path, defects, expected):
    gateway = Standalone(tmp_path, *defects)
    try:
        before = runcost.children_cpu_s()
        done = gwc("replay", str(defect_bundle), "--requirement", "HDR-2", "--target", gateway.url,
                   "--target-config", str(gateway.config))
        replay_cpu = runcost.children_cpu_s() - before
        before = runcost.children_cpu_s()  # what starting the CLI costs: the bound is on top of it
        gwc("replay", "--help")
        startup_cpu = runcost.children_cpu_s() - before
    finally:
        gateway.stop()
    assert done.returncode == expected, done.stdout + done.stderr
    assert ("HDR-2 failed: " in done.stdout and "no Retry-After header" in done.stdout) if expected else ("HDR-2 passed" in done.stdout)
    # A few exchanges, not a suite run: counted in CPU seconds of the replay process, which a loaded
    # machine does not stretch as it stretches wall time.
    assert replay_cpu < startup_cpu + REPLAY_CPU_S, f"replay used {replay_cpu:.2f} CPU-s (start-up alone {startup_cpu:.2f})"


# -- the registry site, in a real headless browser ---------------------------------------------------

@pytest.fixture(scope="session")
def mindproxy_bundle(built_once) -> Path:
    return built_once("certify-mindproxy", lambda d: certify(d / "mindproxy", "--profile", "mindproxy"))


def chromium() -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        reason = "chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI: {reason}; .ci/run installs it, a skip here would hide the browser test")
        pytest.skip(reason)
    return browser


def browse(url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'chromium-profile'}",
         "--window-size=1280,900", *extra, url], capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)


@pytest.fixture(scope="module")
def site(clean_bundle, defect_bundle, mindproxy_bundle, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    done = gwc("registry", "build", str(clean_bundle), str(defect_bundle), str(mindproxy_bundle), "--out", str(out),
               timeout=CHILD_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_registry_leaves_out_a_bundle_that_does_not_verify(clean_bundle, tmp_path):
    bundle = copy(clean_bundle, tmp_path)
    edit_json(bundle / "certificate.json", lambda d: d.update(verdict="non-conformant"))
    done = gwc("registry", "build", str(bundle), str(clean_bundle), "--out", str(tmp_path / "site"))
    assert done.returncode == 1 and "left out" in done.stderr and "does not verify" in done.stderr
    assert (tmp_path / "site" / "index.html").read_text().count("<tr data-search") == 1


def test_registry_links_resolve(site):
    import re
    from urllib.parse import unquote, urlsplit

    pages = sorted(site.rglob("index.html")) + sorted((site / "impl").glob("*.html"))
    pages = [p for p in pages if "bundle" not in p.relative_to(site).parts]
    assert len(pages) == 1 + 3 + 2  # the table, a page per certificate, a history per implementation
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), f"{page}: external asset"
        for link in re.findall(r"""(?:href|src)="([^"]+)\"""", html):
            parts = urlsplit(link)
            target = (page.parent / unquote(parts.path)).resolve()
            assert target.is_file(), f"{page.relative_to(site)}: broken link {link}"
            if parts.fragment:
                assert f'id="{parts.fragment}"' in target.read_text(encoding="utf-8"), f"{page}: no anchor {link}"


def test_registry_table_renders_and_filters_in_chromium(site, tmp_path):
    index = (site / "index.html").as_uri()
    dom = browse(index + "?q=defect", tmp_path, "--dump-dom").stdout
    rows = re.findall(r"<tr data-search=\"([^\"]*)\"[^>]*?(hidden=\"\")?>", dom)
    assert len(rows) == 2, dom[-2000:]  # (reference, 0.1.0: pyai + mindproxy) and (reference with a defect)
    assert [bool(hidden) for search, hidden in rows] == ["defect" not in search for search, hidden in rows]
    assert '<span id="shown">1</span>' in dom
    dom = browse(index + "?profile=mindproxy", tmp_path, "--dump-dom").stdout
    assert '<span id="shown">1</span>' in dom
    page = next((site / "certs").glob("*defect*/index.html"))
    dom = browse(page.as_uri(), tmp_path, "--dump-dom").stdout
    assert 'id="HDR-2"' in dom and "non-conformant" in dom and "gateway-conformance verify" in dom


def test_registry_table_screenshot(site, tmp_path):
    shot = tmp_path / "registry.png"
    done = browse((site / "index.html").as_uri(), tmp_path, f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 10_000, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- the Action ----------------------------------------------------------------------------------------

def _run_step(tmp_path: Path, **inputs: str) -> list[list[str]]:
    """The Action's run step with a stand-in `gateway-conformance` that records its arguments."""
    import yaml

    from tests.conftest import REPO

    action = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    step = next(s for s in action["runs"]["steps"] if s.get("name") == "Run the conformance suite")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.jsonl"
    fake = bin_dir / "gateway-conformance"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\nopen({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n")
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "GWC_OUT": str(tmp_path / "out"), "GWC_INPUT_TARGET": "https://gw.example",
           "GWC_INPUT_PROFILE": "", "GWC_INPUT_CONFIG": "target.yaml", "GWC_INPUT_BASELINE": "", "GWC_INPUT_ARGS": "",
           "GWC_INPUT_CERTIFY": "false", "GWC_INPUT_PRODUCT_NAME": "", "GWC_INPUT_PRODUCT_VERSION": ""}
    env.update({f"GWC_INPUT_{k.upper()}": v for k, v in inputs.items()})
    done = subprocess.run(["bash", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_action_leaves_the_configs_profile_alone_unless_asked(tmp_path):
    (call,) = _run_step(tmp_path)
    assert "--profile" not in call and "--target-config" in call
    (call,) = _run_step(tmp_path / "b" if (tmp_path / "b").mkdir() is None else tmp_path, profile="mindproxy")
    assert call[call.index("--profile") + 1] == "mindproxy"


def test_action_certify_writes_the_bundle(tmp_path):
    (call,) = _run_step(tmp_path, certify="true", product_name="Acme GW", product_version="2.1")
    assert call[0] == "certify" and call[call.index("--out") + 1].endswith("/certificate")
    assert call[call.index("--product-name") + 1] == "Acme GW" and call[call.index("--product-version") + 1] == "2.1"


# -- reproduce lines that reproduce --------------------------------------------------------------------

def test_a_masked_key_read_from_the_environment_becomes_its_variable():
    from conformance.contract.target_config import parse_config

    config = parse_config({"roles": {"rate_limited": {"api_key": "${GW_RATE_LIMITED}", "limit": 3},
                                     "valid": {"api_key": "sk-literal-0123456789abcdef"}}},
                          "t.yaml", env={"GW_RATE_LIMITED": "sk-rl-0123456789abcdef"})
    assert config.variables == {"roles.rate_limited.api_key": "GW_RATE_LIMITED"}
    redactor = Redactor(config.secrets())
    for name, role in config.roles.items():
        redactor.hint(role["api_key"], variable=config.variables.get(f"roles.{name}.api_key"), where=f"roles.{name}.api_key")
    exchange = _exchange()
    exchange.request_headers["authorization"] = "Bearer sk-rl-0123456789abcdef"
    exchange.presented_credentials = ("sk-rl-0123456789abcdef",)
    line = exchange.curl(redactor)
    assert '-H "authorization: Bearer $GW_RATE_LIMITED"' in line and "sk-rl-0123" not in line
    exchange.request_headers["authorization"] = "Bearer sk-literal-0123456789abcdef"
    exchange.presented_credentials = ("sk-literal-0123456789abcdef",)
    line = exchange.curl(redactor)
    assert "sk-…REDACTED" in line and "# masked key: put back roles.valid.api_key" in line


def test_a_rate_limit_failure_shows_the_loop_it_needs():
    exchange = _exchange()
    exchange.burst = 4
    line = exchange.curl(Redactor())
    assert line.startswith("for i in $(seq 4); do curl ") and "; done" in line


def test_a_realtime_failure_shows_a_command_that_opens_the_websocket():
    exchange = Exchange("GET", "ws://127.0.0.1:9/v1/realtime?agent_id=a b", {"authorization": "Bearer x"}, None)
    line = exchange.curl(Redactor())
    assert line.startswith("python -m conformance.transport.ws_probe 'ws://127.0.0.1:9/v1/realtime?agent_id=a b'")
    assert "curl" not in line
    from conformance.transport import ws_probe

    assert ws_probe.main(["ws://127.0.0.1:9/v1/realtime"]) == 2  # nothing listens there: one line, exit 2


def test_an_answer_slow_on_purpose_stays_so_offline():
    exchange = _exchange()
    exchange.error = "timed out: the response body took longer than 1 s"
    exchange.slow_on_purpose = "UPS-8"
    item = har.entry(exchange, Redactor(), uid="c-1", test="t", requirement="UPS-8", roles={}, inference=True)
    from conformance.checks.fuzz import timeout_problems

    assert har.exchange(item).slow_on_purpose == "UPS-8" and timeout_problems(har.exchange(item)) == []
