"""JUnit XML from a report, for CI dashboards: one test case per requirement, carrying the
requirement id and level as properties; a failure's message is its one-line reason and its text
the curl lines (already redacted in the report). A known deviation is a skipped case, so the
dashboard shows it without failing the build.

Also `clean_user_properties`: pytest's own `--junitxml` writes every user property as
`<property value=str(value)>`; the plugin's per-test result dict (evidence and all) must not end
up there, only the requirement id and level.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from conformance.report.render import section_of


def render_junit(report: dict[str, Any]) -> str:
    rows = report["requirements"]
    required = bool((report.get("options") or {}).get("require_practice"))
    counts = {k: sum(1 for r in rows if _kind(r, required) == k) for k in ("failure", "error", "skipped")}
    suite = ET.Element("testsuite", {
        "name": f"gateway-conformance.{report['profile']['id']}",
        "tests": str(len(rows)),
        "failures": str(counts["failure"]),
        "errors": str(counts["error"]),
        "skipped": str(counts["skipped"]),
        "time": f"{report['duration_s']:.3f}",
        "timestamp": report["started_at"],
    })
    properties = ET.SubElement(suite, "properties")
    for name, value in (("verdict", report["verdict"]), ("profile", report["profile"]["id"]),
                        ("profile_sha256", report["profile"]["sha256"]), ("suite_version", report["suite"]["version"]),
                        ("target", report["target"]["url"]), ("requests_sent", str(report["requests_sent"])),
                        *_claims_properties(report)):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    for row in rows:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"gateway-conformance.{report['profile']['id']}.{row['id'].split('-')[0]}",
            "name": f"{row['id']}: {row['title']}",
        })
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", {"name": "requirement", "value": row["id"]})
        ET.SubElement(props, "property", {"name": "level", "value": row["level"]})
        if row.get("scope"):
            ET.SubElement(props, "property", {"name": "scope", "value": row["scope"]})
        if isinstance(row.get("basis"), dict):
            ET.SubElement(props, "property", {"name": "basis", "value": row["basis"].get("kind", "contract")})
        kind = _kind(row, required)
        if kind == "failure":
            failure = ET.SubElement(case, "failure", {"message": row["reason"], "type": "requirement"})
            failure.text = "\n".join(e.get("curl", "") for e in row.get("evidence", []))
        elif kind == "error":
            ET.SubElement(case, "error", {"message": row["reason"], "type": "suite-error"})
        elif kind == "skipped":
            message = row["reason"]
            if section_of(row) == "known":
                message = f"known deviation: {row['known_deviation']['reason']} (failed: {row['reason']})"
            elif row["status"] == "failed":  # a practice requirement not kept, not required
                message = f"beyond the contract, not kept (not required): {row['reason']}"
            ET.SubElement(case, "skipped", {"message": f"{row['status']}: {message}" if section_of(row) != "known" else message})
        if row["tests"]:
            ET.SubElement(case, "system-out").text = "\n".join(row["tests"])
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def _claims_properties(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The claimed scopes and the practice grade as suite properties (absent in an older report)."""
    out = []
    claims = report.get("claims")
    if isinstance(claims, dict):
        out += [("claimed", ",".join(claims.get("claimed", []))), ("not_claimed", ",".join(claims.get("not_claimed", [])))]
    practice = report.get("practice")
    if isinstance(practice, dict):
        out.append(("practice", f"{practice.get('kept', 0)}/{practice.get('total', 0)} kept"))
    return out


def _kind(row: dict[str, Any], required: bool) -> str:
    from conformance.report.grade import is_practice

    section = section_of(row)
    if section == "failed" and is_practice(row) and not required:
        return "skipped"  # beyond the contract: shown, never failing the build unless practice is required
    if section == "failed":
        return "failure"
    if section == "error":
        return "error"
    if section in ("known", "skipped", "inconclusive", "not_claimed"):
        return "skipped"
    return "passed"


def clean_user_properties(properties: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Keep what reads well as a JUnit `<property>` (scalars); drop structured values (dicts, lists)."""
    return [(name, value) for name, value in properties if isinstance(value, (str, int, float, bool))]
