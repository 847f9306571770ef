"""`gateway-conformance certify`: one run, then the bundle a vendor publishes and anyone verifies.

The bundle is built from the report the run already makes (so every field the report gains flows
into it): `certificate.json` (who, what, which profile and suite, the verdict per claimed scope and
every requirement's level, basis, scope and status, the selection and the command that reproduces
it), the report and its renderings, `evidence.har` (every exchange of the run) and
`MANIFEST.sha256` over all of it.
"""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from conformance import __version__
from conformance.errors import ConformanceError

SCHEMA_VERSION = 1
CERTIFICATE = "certificate.json"
REPORT = "report.json"
HAR = "evidence.har"
RENDERINGS = {"report.html": "html", "summary.md": "markdown", "badge.svg": "badge", "junit.xml": "junit"}
PRODUCT_FIELDS = ("name", "version", "organisation", "url", "contact")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gateway-conformance certify", add_help=True,
        description="Run the suite (any option of `run`) and write a certificate bundle anyone can "
                    "`gateway-conformance verify`. With no --target the reference gateway certifies itself.")
    p.add_argument("--out", required=True, metavar="DIR", help="the bundle directory (created; must be empty if it exists)")
    p.add_argument("--product-name", metavar="NAME", help="the implementation's name (or `product.name` in the target config)")
    p.add_argument("--product-version", metavar="VERSION", help="its version (or `product.version`)")
    p.add_argument("--organisation", metavar="ORG", help="who makes it (or `product.organisation`)")
    p.add_argument("--product-url", metavar="URL", help="its home page (or `product.url`)")
    p.add_argument("--contact", metavar="CONTACT", help="who answers for this certificate (or `product.contact`)")
    return p


def certify(argv: Sequence[str]) -> int:
    from conformance.launch import run

    ns, run_args = parser().parse_known_args(list(argv))
    out = Path(ns.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConformanceError(f"certify: --out {out} exists and is not an empty directory")
    out.mkdir(parents=True, exist_ok=True)
    exit_code = run([*run_args, "--gwc-report", str(out / REPORT), "--evidence-har", str(out / HAR)])
    if not (out / REPORT).is_file():
        raise ConformanceError(f"certify: the run wrote no report (exit {exit_code}); no bundle in {out}")
    report = json.loads((out / REPORT).read_text(encoding="utf-8"))
    product = _product(ns, run_args, report)
    write_bundle(out, report, product, ["gateway-conformance", "certify", *argv])
    print(f"certificate bundle: {out} (check it: gateway-conformance verify {shlex.quote(str(out))})")
    return exit_code


def write_bundle(out: Path, report: dict[str, Any], product: dict[str, str], command: list[str]) -> None:
    from conformance.certify.manifest import write_manifest
    from conformance.contract.schemas import describe, first_error

    for name, kind in RENDERINGS.items():
        (out / name).write_text(_render(kind, report), encoding="utf-8")
    certificate = build_certificate(report, product, command)
    error = first_error(certificate, "certificate.schema.json")
    if error is not None:
        raise ConformanceError(f"internal error: the certificate does not match certificate.schema.json: {describe(error)}")
    (out / CERTIFICATE).write_text(json.dumps(certificate, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_manifest(out)


def _render(kind: str, report: dict[str, Any]) -> str:
    from conformance.report.render import badge, html, junit, markdown

    return {"html": html.render_html, "markdown": markdown.render_markdown, "badge": badge.render_badge,
            "junit": junit.render_junit}[kind](report)


def build_certificate(report: dict[str, Any], product: dict[str, str], command: list[str]) -> dict[str, Any]:
    from conformance.certify.verdicts import scope_verdicts

    rows = [requirement_row(r, report["profile"]["id"]) for r in report["requirements"]]
    claims = report.get("claims") or {"claimed": sorted({r["scope"] for r in rows if r["status"] != "not_claimed"}),
                                      "not_claimed": []}
    return {
        "schema_version": SCHEMA_VERSION,
        "implementation": product,
        "profile": {k: report["profile"][k] for k in ("id", "version", "sha256")},
        "suite": {"name": "gateway-conformance", "version": report["suite"]["version"]},
        "date": report["started_at"],
        "target": report["target"],
        "verdict": report["verdict"],
        "claims": {"claimed": list(claims.get("claimed", [])), "not_claimed": list(claims.get("not_claimed", []))},
        "scopes": scope_verdicts(rows, claims.get("claimed", [])),
        "practice": report.get("practice"),
        "summary": report["summary"],
        "requirements": rows,
        "selection": report.get("selection", {}),
        "options": report.get("options", {}),
        "command": shlex.join(command),
        "files": {"report": REPORT, "evidence": HAR, **{kind: name for name, kind in RENDERINGS.items()}},
        "issued_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def requirement_row(row: dict[str, Any], profile_id: str) -> dict[str, Any]:
    """A report row as the certificate lists it: level, basis, scope, status (and the tests behind it).
    A report without `basis` / `scope` on its rows gets them from the catalogue it was made with."""
    from conformance.contract.requirements import get

    requirement = get(row["id"])
    basis = row.get("basis")
    if basis is None and requirement is not None:
        try:
            basis = requirement.basis(profile_id).to_dict()
        except KeyError:
            basis = None
    scope = row.get("scope") or (requirement.scope if requirement is not None else "core")
    return {"id": row["id"], "level": row["level"], "basis": basis or {"kind": "unknown"}, "scope": scope,
            "status": row["status"], "reason": row.get("reason", ""), "tests": list(row.get("tests", []))}


def _product(ns: argparse.Namespace, run_args: list[str], report: dict[str, Any]) -> dict[str, str]:
    """Flags win over the target config's `product:` section; the reference names itself."""
    section: dict[str, Any] = {}
    config_ref = _option(run_args, "--target-config", "--gwc-target-config")
    if config_ref and not report["target"].get("reference"):
        from conformance.contract.target_config import load_config

        section = load_config(config_ref).section("product") or {}
    flags = {"name": ns.product_name, "version": ns.product_version, "organisation": ns.organisation,
             "url": ns.product_url, "contact": ns.contact}
    product = {k: str(flags[k] or section.get(k) or "") for k in PRODUCT_FIELDS}
    if report["target"].get("reference"):
        defects = report.get("options", {}).get("defects") or []
        product["name"] = product["name"] or "gateway-conformance reference" + (f" (defect: {', '.join(defects)})" if defects else "")
        product["version"] = product["version"] or __version__
        product["organisation"] = product["organisation"] or "gateway-conformance"
    if not product["name"]:
        raise ConformanceError("certify: name the implementation: --product-name NAME (or `product.name` in the target config)")
    product["version"] = product["version"] or "unversioned"
    return product


def _option(args: list[str], *names: str) -> str | None:
    value = None
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                value = args[index + 1]
            elif arg.startswith(name + "="):
                value = arg.split("=", 1)[1]
    if value is None:
        import os

        value = os.environ.get("GWC_TARGET_CONFIG") if "--target-config" in names else None
    return value
