"""Renderings, baseline, diff and the report subcommands on hand-made reports (no gateway needed)."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from datetime import date

import pytest

from conformance.cli import main
from conformance.errors import ConfigError
from conformance.report.baseline import apply_baseline, gate_passes, load_baseline, summary_line
from conformance.report.diff import diff_reports, render_diff
from conformance.report.json_report import validate_report
from conformance.report.render.badge import badge_text, render_badge
from conformance.report.render.html import render_html
from conformance.report.render.junit import clean_user_properties, render_junit
from conformance.report.render.markdown import fenced, render_markdown
from conformance.report.render.matrix import render_matrix

HOSTILE = "<script>alert(1)</script> ``` | [x](http://evil.example)"


def row(rid: str, status: str, level: str = "MUST", reason: str = "", evidence: list | None = None) -> dict:
    return {"id": rid, "level": level, "title": f"title of {rid}", "status": status,
            "tests": [f"conformance/suite/test_x.py::test_{rid.lower().replace('-', '_')}"], "reason": reason,
            "evidence": evidence or []}


def make_report(*rows: dict, verdict: str | None = None) -> dict:
    from conformance.report.results import Results

    summary = {lvl: {s: 0 for s in ("passed", "failed", "skipped", "inconclusive", "error")} for lvl in ("MUST", "SHOULD")}
    for r in rows:
        summary[r["level"]][r["status"]] += 1
    report = {
        "suite": {"name": "gateway-conformance", "version": "0.1.0"},
        "profile": {"id": "pyai", "version": "1.0.0", "sha256": "0" * 64},
        "target": {"url": "https://gw.example", "reference": False},
        "started_at": "2026-11-26T04:00:00Z", "duration_s": 1.5, "requests_sent": 12,
        "verdict": verdict or Results.verdict(list(rows)), "summary": summary, "requirements": list(rows),
    }
    validate_report(report)
    return report


EVIDENCE = [{"request": {"method": "GET", "url": "https://gw.example/v1/nope", "headers": {"authorization": "Bearer sk-…REDACTED"}},
             "response": {"status": 404, "headers": {"content-type": "text/html"}, "body": HOSTILE},
             "curl": "curl -sS -i -X GET https://gw.example/v1/nope -H 'authorization: Bearer sk-…REDACTED'"}]


@pytest.fixture
def failing():
    return make_report(row("ENV-1", "passed"), row("MAP-4", "failed", reason=f"404 is text/html {HOSTILE}", evidence=EVIDENCE),
                       row("HDR-2", "failed", reason="no Retry-After"), row("SEC-2", "passed", "SHOULD"))


def test_html_escapes_target_text_and_folds_evidence(failing):
    page = render_html(failing)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<details><summary>evidence: GET https://gw.example/v1/nope → 404</summary>" in page
    assert page.index('id="MAP-4"') < page.index('id="ENV-1"')  # failures lead
    assert 'value="passed">' in page and 'value="failed" checked' in page  # passed rows start filtered out


def test_markdown_leads_with_failures_and_folds_passed(failing):
    text = render_markdown(failing)
    assert text.index("### Failed (2)") < text.index("<details><summary>Passed (2)</summary>")
    import re

    outside_code = re.sub(r"(?ms)^ *(`{3,})text\n.*?^ *\1$", "", text)  # a code block shows text, never runs it
    assert "<script>" not in outside_code
    assert "[x](http://evil.example)" not in outside_code  # no link injection from a reason
    assert "````text" in text  # the body holds ``` so the fence is longer


def test_fenced_cannot_be_closed_by_content():
    block = fenced("a\n````\nb")
    assert block.startswith("`````") and block.endswith("`````")


def test_badge(failing):
    assert badge_text(failing) == ("pyai", "non-conformant 2 failed")
    good = make_report(row("ENV-1", "passed"), row("SEC-2", "passed", "SHOULD"))
    assert badge_text(good) == ("pyai", "conformant 2/2")
    svg = render_badge(good)
    ET.fromstring(svg)
    assert "pyai: conformant 2/2" in svg and "#4c1" in svg
    assert badge_text(make_report(row("ENV-1", "passed"), row("HDR-2", "skipped"))) == ("pyai", "incomplete 1/2")


def test_junit_has_requirement_and_level_properties(failing):
    root = ET.fromstring(render_junit(failing).split("\n", 1)[1])
    assert root.get("failures") == "2" and root.get("tests") == "4"
    case = next(c for c in root.findall("testcase") if c.get("name").startswith("MAP-4"))
    assert {p.get("name"): p.get("value") for p in case.iter("property")} == {"requirement": "MAP-4", "level": "MUST"}
    assert "curl -sS" in case.find("failure").text


def test_clean_user_properties_drops_structured_values():
    props = [("requirement", "HDR-2"), ("level", "MUST"), ("gateway_conformance", {"evidence": []}), ("findings", [1])]
    assert clean_user_properties(props) == [("requirement", "HDR-2"), ("level", "MUST")]


def baseline_file(tmp_path, body: str):
    path = tmp_path / "kd.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_baseline_states(tmp_path, failing):
    baseline = load_baseline(baseline_file(tmp_path, (
        "deviations:\n"
        "  - {id: MAP-4, reason: CDN page, expires: 2999-12-31}\n"
        "  - {id: HDR-2, reason: overdue, expires: 2020-01-01}\n"
        "  - {id: ENV-1, reason: long fixed}\n"
        "  - {id: PRB-1, reason: no management plane here}\n")))
    report = apply_baseline(copy.deepcopy(failing), baseline, today=date(2026, 11, 26))
    validate_report(report)
    section = report["baseline"]
    assert section["known"] == ["MAP-4"] and section["expired"] == ["HDR-2"] and section["fixed"] == ["ENV-1"]
    assert section["unlisted_failures"] == ["HDR-2"] and section["not_applicable"] == ["PRB-1"]
    assert section["verdict"] == "non-conformant" and not gate_passes(report)
    assert "1 known deviation (MAP-4)" in summary_line(report)

    only_known = load_baseline(baseline_file(tmp_path, "deviations:\n  - {id: MAP-4, reason: a}\n  - {id: HDR-2, reason: b}\n"))
    accepted = apply_baseline(copy.deepcopy(failing), only_known)
    assert accepted["verdict"] == "non-conformant" and accepted["baseline"]["verdict"] == "conformant"
    assert gate_passes(accepted)
    assert "Known deviations (baseline) (2)" in render_markdown(accepted)
    assert badge_text(accepted) == ("pyai", "non-conformant 2 failed")  # a baseline never turns the badge green


@pytest.mark.parametrize("body,message", [
    ("deviations:\n  - {id: XYZ-1, reason: a}\n", "$.deviations[0].id"),
    ("deviations:\n  - {id: ENV-99, reason: a}\n", "unknown requirement id 'ENV-99'"),
    ("deviations:\n  - {id: ENV-1, reason: a}\n  - {id: ENV-1, reason: b}\n", "ENV-1 is listed twice"),
    ("deviations:\n  - {id: ENV-1}\n", "'reason' is a required property"),
    ("deviations:\n  - {id: ENV-1, reason: a, expires: next week}\n", "expires"),
    ("deviations: [\n", "invalid YAML"),
])
def test_bad_baseline_is_one_line(tmp_path, body, message):
    with pytest.raises(ConfigError) as info:
        load_baseline(baseline_file(tmp_path, body))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_diff_lists_regressions_first(failing):
    old = make_report(row("ENV-1", "passed"), row("MAP-4", "passed"), row("HDR-2", "failed", reason="x"),
                      row("SEC-2", "skipped", "SHOULD"))
    changes = diff_reports(old, failing)
    assert [(c.kind, c.id) for c in changes] == [("regression", "MAP-4"), ("change", "SEC-2")]
    fixed = diff_reports(failing, old)
    assert [(c.kind, c.id) for c in fixed] == [("fix", "MAP-4"), ("change", "SEC-2")]
    assert render_diff(old, failing, changes).splitlines()[2].startswith("REGRESSION MAP-4")


def test_matrix_one_column_per_gateway(failing):
    good = make_report(row("ENV-1", "passed"), row("MAP-4", "passed"), row("HDR-2", "passed"), row("SEC-2", "passed", "SHOULD"))
    page = render_matrix([("gw-a", failing), ("gw-b", good)])
    assert page.count("<th>gw-") == 2
    assert page.index("ENV-1") < page.index("HDR-2") < page.index("MAP-4") < page.index("SEC-2")  # registry order
    assert "<script>alert" not in page


def test_cli_render_diff_gate(tmp_path, failing, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(failing), encoding="utf-8")
    b.write_text(json.dumps(make_report(row("ENV-1", "passed"), row("MAP-4", "passed"))), encoding="utf-8")
    assert main(["render", str(a), "--html", str(tmp_path / "r.html"), "--md", str(tmp_path / "r.md"),
                 "--badge", str(tmp_path / "r.svg"), "--junit", str(tmp_path / "r.xml")]) == 0
    assert all((tmp_path / f"r.{ext}").stat().st_size > 100 for ext in ("html", "md", "svg", "xml"))
    assert main(["render", "--matrix", str(a), str(b), "--html", str(tmp_path / "m.html")]) == 0
    # both reports tested gw.example: the gateway's name, told apart by the report file's
    assert "<th>gw.example (a)<br>" in (tmp_path / "m.html").read_text(encoding="utf-8")
    assert main(["diff", str(b), str(a)]) == 1
    assert main(["diff", str(a), str(b)]) == 0
    assert main(["gate", str(a)]) == 1 and main(["gate", str(b)]) == 0
    capsys.readouterr()
    assert main(["render", str(a)]) == 2
    assert "say what to write" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"suite": 1}', encoding="utf-8")
    assert main(["render", str(tmp_path / "bad.json"), "--md", "-"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gateway-conformance: report ") and err.count("\n") == 1
    assert main(["requirements", "--json"]) == 0 and json.loads(capsys.readouterr().out)[0]["id"] == "ENV-1"
    assert main(["profiles", "--json"]) == 0 and {p["id"] for p in json.loads(capsys.readouterr().out)} >= {"pyai", "mindproxy"}


def test_action_is_composite_and_safe():
    import re
    import subprocess

    import yaml

    from tests.conftest import REPO

    action = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    assert action["runs"]["using"] == "composite"
    assert {"target", "profile", "config", "baseline"} <= set(action["inputs"])
    for step in action["runs"]["steps"]:
        if "run" in step:
            # inputs reach scripts through env only: `${{ inputs.x }}` inside a script is shell injection
            assert not re.search(r"\$\{\{\s*inputs\.", step["run"]), step["name"]
            done = subprocess.run(["bash", "-n"], input=step["run"], capture_output=True, text=True)
            assert done.returncode == 0, (step["name"], done.stderr)
