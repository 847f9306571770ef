"""Several gateways side by side: one column per report, one row per requirement — how a buyer or
a standards group compares implementations of the same contract. Self-contained HTML, like html.py.
"""

from __future__ import annotations

from html import escape
from typing import Any

from conformance.report.grade import claims_text
from conformance.report.render import display_status, section_of, target_label
from conformance.report.render.html import COLOURS, STYLE, VERDICT_COLOURS


def requirement_order(reports: list[dict[str, Any]]) -> list[str]:
    """Registry order (ENV, HDR, …), then any id only an older or newer suite knew."""
    from conformance.contract.requirements import registry

    seen = {r["id"] for report in reports for r in report["requirements"]}
    ordered = [rid for rid in registry() if rid in seen]
    return ordered + sorted(seen - set(ordered))


def gateway_labels(reports: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """(file stem, report) → (gateway name, report): a column is headed by the gateway it tested
    (the target's host, or "reference gateway"), not by whatever the report file was called; the
    file name is added only where two columns would otherwise read the same."""
    from urllib.parse import urlsplit

    def name(report: dict[str, Any]) -> str:
        target = report["target"]
        if target.get("reference"):
            return "reference gateway"
        parts = urlsplit(target["url"])
        return (parts.netloc or target["url"]) + (parts.path.rstrip("/") if parts.path.rstrip("/") not in ("", "/v1") else "")

    names = [name(report) for _, report in reports]
    return [(n if names.count(n) == 1 else f"{n} ({stem})", report) for n, (stem, report) in zip(names, reports, strict=False)]


def render_matrix(reports: list[tuple[str, dict[str, Any]]]) -> str:
    """`reports`: (column label, report) pairs, in the order the columns should appear."""
    ids = requirement_order([r for _, r in reports])
    by_column = [{row["id"]: row for row in report["requirements"]} for _, report in reports]
    titles: dict[str, tuple[str, str]] = {}
    for rows in by_column:
        for rid, row in rows.items():
            scope = f" · {row['scope']}" if row.get("scope") else ""
            kind = f" · {row['basis']['kind']}" if isinstance(row.get("basis"), dict) else ""
            titles.setdefault(rid, (row["level"] + kind + scope, row["title"]))
    head = "".join(
        f'<th>{escape(label)}<br><span class="tests">{escape(report["profile"]["id"])} @ {escape(target_label(report))}</span><br>'
        f'<span class="status" style="background:{VERDICT_COLOURS[report["verdict"]]}">{escape(report["verdict"])}</span>'
        f'<br><span class="tests">{escape(claims_text(report))}</span></th>'
        for label, report in reports
    )
    body = []
    for rid in ids:
        level, title = titles[rid]
        cells = []
        for rows in by_column:
            row = rows.get(rid)
            if row is None:
                cells.append('<td class="reason">n/a</td>')
                continue
            key = section_of(row)
            tip = f' title="{escape(row["reason"])}"' if row["reason"] else ""
            cells.append(f'<td><span class="status" style="background:{COLOURS[key]}"{tip}>{escape(display_status(row))}</span></td>')
        body.append(f'<tr><td><strong>{escape(rid)}</strong> <span class="reason">{level}</span>'
                    f'<div class="reason">{escape(title)}</div></td>{"".join(cells)}</tr>')
    return "\n".join([
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8"><title>gateway-conformance matrix</title>',
        f"<style>{STYLE}</style></head><body>",
        f"<h1>gateway-conformance: {len(reports)} gateways compared</h1>",
        f"<table><thead><tr><th>requirement</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>",
        "</body></html>",
    ]) + "\n"
