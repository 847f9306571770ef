"""One self-contained HTML page per report: no external asset (a report is often opened offline or
from a CI artifact), a requirement table with status filters, evidence folded under each failure.

A report without failures shows every requirement (a conformant report is a certificate a vendor
publishes as it is: each requirement with its level, status and tests); a report with failures
starts with the passed rows filtered out so the failures come first.

Everything from the report is escaped: response bodies come from the target under test.
"""

from __future__ import annotations

from html import escape
from typing import Any

from conformance.report.baseline import summary_line
from conformance.report.grade import claims_text, practice_failures, practice_line, verdict_line
from conformance.report.render import (
    SECTIONS,
    basis_text,
    display_status,
    grouped,
    headline,
    problem_kinds,
    section_of,
    target_label,
)

COLOURS = {"failed": "#d73a49", "error": "#8250df", "known": "#e36209", "fixed": "#2da44e",
           "inconclusive": "#bf8700", "skipped": "#6e7781", "passed": "#2da44e", "not_claimed": "#8c959f"}
VERDICT_COLOURS = {"conformant": "#2da44e", "non-conformant": "#d73a49", "incomplete": "#bf8700"}

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1f2328;max-width:78rem}
h1{font-size:1.4rem;margin:0 0 .3rem}
.verdict{display:inline-block;color:#fff;padding:.15rem .6rem;border-radius:.3rem;font-weight:600}
.meta{color:#57606a;margin:.4rem 0 1rem}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
.status{color:#fff;border-radius:.25rem;padding:0 .4rem;white-space:nowrap;font-size:.85rem}
.filters label{margin-right:1rem;white-space:nowrap}
pre{background:#f6f8fa;padding:.5rem;overflow:auto;white-space:pre-wrap;word-break:break-all;font-size:.8rem}
details summary{cursor:pointer;color:#0969da}
.reason{color:#57606a}
.tests{font-family:ui-monospace,monospace;font-size:.8rem;color:#57606a}
"""

SCRIPT = """
function gwcFilter(){
  var on={};
  document.querySelectorAll('.filters input').forEach(function(b){on[b.value]=b.checked;});
  document.querySelectorAll('tr[data-status]').forEach(function(r){r.hidden=!on[r.dataset.status];});
}
document.querySelectorAll('.filters input').forEach(function(b){b.addEventListener('change',gwcFilter);});
gwcFilter();
"""


def render_html(report: dict[str, Any]) -> str:
    verdict = report["verdict"]
    title = f"gateway-conformance: {report['profile']['id']} @ {target_label(report)}"
    present = {key for key, _, _ in grouped(report)}
    # Passed rows start folded away only when there are failures to look at first.
    focus_failures = bool(present & {"failed", "error"})
    filters = "".join(
        f'<label><input type="checkbox" value="{key}"{"" if key == "passed" and focus_failures else " checked"}> '
        f'{escape(heading.split(" (")[0])} ({sum(1 for r in report["requirements"] if section_of(r) == key)})</label>'
        for key, heading in SECTIONS if key in present
    )
    rows = "".join(_row(row) for _, _, section in grouped(report) for row in section)
    baseline = summary_line(report)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<span class="verdict" style="background:{VERDICT_COLOURS[verdict]}">{escape(verdict)}</span> ',
        f"<strong>{escape(headline(report))}</strong>",
    ]
    if claims_text(report):
        parts.append(f"<p><strong>{escape(verdict_line(report))}</strong></p>")
    practice = practice_line(report)
    if practice:
        failures = "".join(f"<li>{escape(rid)} not kept: {escape(why)}</li>" for rid, why in practice_failures(report))
        parts.append(f"<p>{escape(practice)}</p>" + (f"<ul>{failures}</ul>" if failures else ""))
    parts.append(f'<p class="meta">{escape(_meta(report))}</p>')
    if baseline:
        parts.append(f'<p class="meta">{escape(baseline)} — verdict with the baseline accepted: '
                     f'<strong>{escape(report["baseline"]["verdict"])}</strong></p>')
    parts += [
        f'<p class="filters">Show: {filters}</p>',
        "<table><thead><tr><th>requirement</th><th>level</th><th>status</th><th>what it checks, and what happened</th></tr></thead>",
        f"<tbody>{rows}</tbody></table>",
    ]
    if report.get("not_covered"):
        parts.append(f'<p class="meta">Not covered by this suite version: {escape(", ".join(report["not_covered"]))}</p>')
    reproduce = report.get("reproduce", {}).get("command")
    if reproduce:
        parts.append(f"<p class=\"meta\">Reproduce the run:</p><pre>{escape(reproduce)}</pre>")
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"


def _meta(report: dict[str, Any]) -> str:
    profile = report["profile"]
    return (f"suite {report['suite']['version']} · profile {profile['id']} {profile['version']} "
            f"(sha256 {profile['sha256']}) · {report['requests_sent']} requests · "
            f"{report['duration_s']:.1f} s · started {report['started_at']}")


def _row(row: dict[str, Any]) -> str:
    key = section_of(row)
    detail = [f"<div>{escape(row['title'])}</div>"]
    if row["reason"]:
        detail.append(f'<div class="reason">{escape(row["reason"])}</div>')
    deviation = row.get("known_deviation")
    if deviation:
        expiry = f", expires {deviation['expires']}" if deviation.get("expires") else ""
        detail.append(f'<div class="reason">baseline ({escape(deviation["state"] + expiry)}): {escape(deviation["reason"])}</div>')
    basis = basis_text(row)
    if basis:
        detail.append(f'<div class="reason">basis: {escape(basis)}</div>')
    for evidence in row.get("evidence", []):
        detail.append(_evidence(evidence))
    detail += [f'<div class="reason">problem: {escape(line)}</div>' for line in problem_kinds(row)]
    if row.get("evidence_omitted"):
        detail.append(f'<div class="reason">… {row["evidence_omitted"]} more distinct exchange(s) not shown (evidence is capped)</div>')
    if row["tests"]:
        tests = "<br>".join(escape(t) for t in row["tests"])
        detail.append(f'<details><summary>{len(row["tests"])} test(s)</summary><div class="tests">{tests}</div></details>')
    return (f'<tr data-status="{key}" id="{escape(row["id"])}"><td><strong>{escape(row["id"])}</strong></td>'
            f'<td>{row["level"]}{escape(" · " + row["scope"]) if row.get("scope") else ""}</td><td><span class="status" style="background:{COLOURS[key]}">'
            f'{escape(display_status(row))}</span></td><td>{"".join(detail)}</td></tr>')


def _evidence(evidence: dict[str, Any]) -> str:
    request = evidence["request"]
    response = evidence.get("response")
    outcome = str(response["status"]) if response else evidence.get("error", "no response")
    lines = [f"{request['method']} {request['url']}"]
    lines += [f"{k}: {v}" for k, v in request.get("headers", {}).items()]
    if request.get("body"):
        lines += ["", request["body"]]
    if response:
        lines += ["", f"HTTP {response['status']}"]
        lines += [f"{k}: {v}" for k, v in response.get("headers", {}).items()]
        lines += ["", response.get("body", "")]
    elif evidence.get("error"):
        lines += ["", f"no response: {evidence['error']}"]
    curl = f"<pre>{escape(evidence['curl'])}</pre>" if evidence.get("curl") else ""
    return (f"<details><summary>evidence: {escape(request['method'])} {escape(request['url'])} → {escape(outcome)}</summary>"
            f"{curl}<pre>{escape(chr(10).join(lines))}</pre></details>")
