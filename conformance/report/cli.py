"""The report subcommands of `gateway-conformance`: render, diff, gate.

Kept apart from cli.py so the run-side commands and the report-side ones change independently.
Every output is written whole or not at all; a bad input file is one line (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from conformance.errors import ConformanceError


def add_report_commands(sub: Any) -> None:
    render = sub.add_parser("render", help="render a report as HTML, Markdown, an SVG badge or JUnit XML; "
                            "or several reports side by side (--matrix)")
    render.add_argument("reports", nargs="+", metavar="REPORT.json")
    render.add_argument("--html", metavar="PATH", help="one self-contained HTML page")
    render.add_argument("--md", metavar="PATH", help="Markdown summary ('-' for stdout)")
    render.add_argument("--badge", metavar="PATH", help="SVG badge")
    render.add_argument("--junit", metavar="PATH", help="JUnit XML, one test case per requirement")
    render.add_argument("--matrix", action="store_true", help="compare the reports: one column per gateway (needs --html)")
    render.set_defaults(func=_render)

    diff = sub.add_parser("diff", help="what changed between two reports: regressions first, then fixes (exit 1 on a regression)")
    diff.add_argument("old", metavar="OLD.json")
    diff.add_argument("new", metavar="NEW.json")
    diff.add_argument("--json", action="store_true", help="print the changes as JSON")
    diff.set_defaults(func=_diff)

    gate = sub.add_parser("gate", help="exit 0 only when the report is conformant once accepted known deviations count; the same rule as the run's exit status")
    gate.add_argument("report", metavar="REPORT.json")
    gate.add_argument("--require-practice", action="store_true", default=False,
                      help="also exit 1 when a claimed MUST of suite practice (beyond the contract) was not kept "
                           "(default: as the run recorded it)")
    gate.set_defaults(func=_gate)


def _render(ns: argparse.Namespace) -> int:
    from conformance.report.render import load_report
    from conformance.report.render.matrix import gateway_labels

    reports = gateway_labels([(Path(p).stem, load_report(p)) for p in ns.reports])
    outputs: list[tuple[str, str]] = []
    if ns.matrix:
        from conformance.report.render.matrix import render_matrix

        if not ns.html or ns.md or ns.badge or ns.junit:
            raise ConformanceError("render --matrix writes one HTML page: give --html PATH (and only that)")
        outputs.append((ns.html, render_matrix(reports)))
    else:
        if len(reports) != 1:
            raise ConformanceError("render takes one report (use --matrix to compare several)")
        if not (ns.html or ns.md or ns.badge or ns.junit):
            raise ConformanceError("render: say what to write: --html, --md, --badge and/or --junit PATH")
        report = reports[0][1]
        from conformance.report.render.badge import render_badge
        from conformance.report.render.html import render_html
        from conformance.report.render.junit import render_junit
        from conformance.report.render.markdown import render_markdown

        for path, renderer in ((ns.html, render_html), (ns.md, render_markdown), (ns.badge, render_badge), (ns.junit, render_junit)):
            if path:
                outputs.append((path, renderer(report)))
    for path, text in outputs:
        if path == "-":
            sys.stdout.write(text)
            continue
        try:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConformanceError(f"cannot write {path}: {exc.strerror or exc}") from None
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _diff(ns: argparse.Namespace) -> int:
    from conformance.report.diff import diff_reports, render_diff
    from conformance.report.render import load_report

    old, new = load_report(ns.old), load_report(ns.new)
    changes = diff_reports(old, new)
    if ns.json:
        print(json.dumps({"verdict": [old["verdict"], new["verdict"]], "changes": [c.to_dict() for c in changes]}, indent=2))
    else:
        print(render_diff(old, new, changes))
    return 1 if any(c.kind == "regression" for c in changes) else 0


def _gate(ns: argparse.Namespace) -> int:
    """The same rule as the run's own exit status (`conformance.report.gate`)."""
    from conformance.report.baseline import summary_line
    from conformance.report.gate import decide
    from conformance.report.render import headline, load_report

    report = load_report(ns.report)
    decision = decide(report, require_practice=True if ns.require_practice else None)
    print(headline(report))
    from conformance.report.grade import practice_line, verdict_line

    print(verdict_line(report))
    practice = practice_line(report)
    if practice:
        print(practice)
    line = summary_line(report)
    if line:
        print(line)
    print(f"gate: {'passed' if decision.passes else 'failed'} (exit {decision.exit_code}: {decision.why})")
    return decision.exit_code
