"""The Markdown summary (a PR comment, `$GITHUB_STEP_SUMMARY`): failures and known deviations first,
with their evidence; passed requirements fold away under one <details>.

Report text comes from the target (response bodies, messages), so it is escaped: a gateway must not
be able to inject markup or links into a CI summary.
"""

from __future__ import annotations

import html
import re
from typing import Any

from conformance.report.baseline import summary_line
from conformance.report.grade import claims_text, practice_failures, practice_line, verdict_line
from conformance.report.render import basis_text, deviation_state, grouped, headline, problem_kinds, target_label

_VERDICT_ICON = {"conformant": "✅", "non-conformant": "❌", "incomplete": "⚠️"}
_FOLDED = ("passed", "skipped", "not_claimed")


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell (and inline): HTML-escaped, pipes and newlines neutralised."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ").replace("`", "\\`") \
        .replace("[", "\\[").replace("]", "\\]").replace("*", "\\*").replace("_", "\\_")


def fenced(text: str, lang: str = "") -> str:
    """A code fence longer than any backtick run inside, so content can never close it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def render_markdown(report: dict[str, Any]) -> str:
    verdict = report["verdict"]
    lines = [
        f"## {_VERDICT_ICON[verdict]} gateway-conformance: {cell(report['profile']['id'])} @ {cell(target_label(report))}",
        "",
        f"**{cell(headline(report))}**",
        "",
    ]
    if claims_text(report):
        lines += [f"**{cell(verdict_line(report))}**", ""]
    practice = practice_line(report)
    if practice:
        lines += [cell(practice), ""]
        lines += [f"- {cell(rid)} not kept: {cell(why)}" for rid, why in practice_failures(report)]
        if practice_failures(report):
            lines.append("")
    baseline = summary_line(report)
    if baseline:
        gate = report["baseline"]["verdict"]
        lines += [f"{cell(baseline)} (verdict with the baseline accepted: **{gate}**)", ""]
    lines.append(_counts_table(report))
    for key, heading, rows in grouped(report):
        if key in _FOLDED:
            lines += ["", f"<details><summary>{html.escape(heading)} ({len(rows)})</summary>", ""]
            lines += [f"- {r['id']} ({r['level']}) {cell(r['title'])}" + (f" — {cell(r['reason'])}" if r["reason"] else "")
                      for r in rows]
            lines += ["", "</details>"]
            continue
        lines += ["", f"### {heading} ({len(rows)})", ""]
        for row in rows:
            lines += _requirement(row)
    lines += ["", _footer(report), ""]
    return "\n".join(lines)


def _counts_table(report: dict[str, Any]) -> str:
    keys = ("passed", "failed", "error", "inconclusive", "skipped", "not_claimed")
    out = ["| level | " + " | ".join(k.replace("_", " ") for k in keys) + " |", "|---|" + "---:|" * len(keys)]
    for level in ("MUST", "SHOULD"):
        counts = report["summary"][level]
        out.append(f"| {level} | " + " | ".join(str(counts.get(k, 0)) for k in keys) + " |")
    return "\n".join(out)


def _requirement(row: dict[str, Any]) -> list[str]:
    scope = f", {row['scope']}" if row.get("scope") else ""
    out = [f"- **{row['id']}** ({row['level']}{scope}) {cell(row['title'])}"]
    if row["reason"]:
        out.append(f"  - {cell(row['reason'])}")
    deviation = row.get("known_deviation")
    if deviation and deviation_state(row) in ("known", "expired"):
        expiry = f", expires {deviation['expires']}" if deviation.get("expires") else ""
        out.append(f"  - baseline ({deviation['state']}{expiry}): {cell(deviation['reason'])}")
    basis = basis_text(row)
    if basis:
        out.append(f"  - basis: {cell(basis)}")
    out += [f"  - problem: {cell(line)}" for line in problem_kinds(row)]
    for evidence in row.get("evidence", [])[:3]:
        response = evidence.get("response")
        status = response["status"] if response else evidence.get("error", "no response")
        summary = f"{evidence['request']['method']} {evidence['request']['url']} → {status}"
        body = [f"# {summary}", evidence.get("curl", "")]
        if response:
            headers = "\n".join(f"{k}: {v}" for k, v in response.get("headers", {}).items())
            body += ["", f"HTTP {response['status']}", headers, "", response.get("body", "")]
        out += ["", f"  <details><summary>evidence: {html.escape(summary)}</summary>", "",
                _indent(fenced("\n".join(body), "text")), "", "  </details>", ""]
    return out


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _footer(report: dict[str, Any]) -> str:
    profile = report["profile"]
    parts = [f"suite {report['suite']['version']}", f"profile {profile['id']} {profile['version']} (sha256 {profile['sha256'][:12]}…)",
             f"{report['requests_sent']} requests", f"{report['duration_s']:.1f} s", f"started {report['started_at']}"]
    if report.get("not_covered"):
        parts.append(f"not covered by this suite version: {', '.join(report['not_covered'])}")
    return "<sub>" + html.escape(" · ".join(parts)) + "</sub>"
