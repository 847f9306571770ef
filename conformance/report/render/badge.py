"""An SVG badge a vendor can publish next to its report: `pyai: conformant 34/34`,
`pyai: non-conformant 3 failed`, `pyai: incomplete 11/15`. Flat shields.io look, no external font
or image; the text is the report's own verdict (a baseline never turns a badge green): the
contract's, counted over the claimed requirements of the contract. The title (the tooltip) names
the claimed scopes and the practice grade.
"""

from __future__ import annotations

from html import escape
from typing import Any

COLOURS = {"conformant": "#4c1", "non-conformant": "#e05d44", "incomplete": "#dfb317"}
_CHAR_W = 6.6  # average advance of 11px Verdana: good enough to size the two boxes


def badge_text(report: dict[str, Any]) -> tuple[str, str]:
    from conformance.report.render import contract_rows

    rows = contract_rows(report)
    verdict = report["verdict"]
    if verdict == "non-conformant":
        failed = sum(1 for r in rows if r["status"] == "failed")
        return report["profile"]["id"], f"{verdict} {failed} failed"
    passed = sum(1 for r in rows if r["status"] == "passed")
    return report["profile"]["id"], f"{verdict} {passed}/{len(rows)}"


def render_badge(report: dict[str, Any]) -> str:
    label, message = badge_text(report)
    colour = COLOURS[report["verdict"]]
    lw = round(len(label) * _CHAR_W + 12)
    mw = round(len(message) * _CHAR_W + 12)
    width = lw + mw
    label_x, message_x = lw / 2, lw + mw / 2
    text = escape(f"{label}: {message}")
    from conformance.report.grade import claims_text, practice_line

    extra = [part for part in (claims_text(report), practice_line(report)) if part]
    title = escape(f"{label}: {message}" + "".join(f" — {part}" for part in extra))
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" aria-label="{text}">
<title>{title}</title>
<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>
<clipPath id="r"><rect width="{width}" height="20" rx="3" fill="#fff"/></clipPath>
<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{mw}" height="20" fill="{colour}"/><rect width="{width}" height="20" fill="url(#s)"/></g>
<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">
<text x="{label_x}" y="15" fill="#010101" fill-opacity=".3">{escape(label)}</text><text x="{label_x}" y="14">{escape(label)}</text>
<text x="{message_x}" y="15" fill="#010101" fill-opacity=".3">{escape(message)}</text><text x="{message_x}" y="14">{escape(message)}</text>
</g>
</svg>
"""
