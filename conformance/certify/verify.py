"""`gateway-conformance verify DIR`: recompute a certificate instead of trusting it.

Checks, each problem one line: the manifest (a changed byte, a missing or extra file); every file
against its schema; the rows against the catalogue of the suite version named in it (a deleted
row, a changed level); the verdict and the per-scope verdicts recomputed by the suite's own rule
(`Results.verdict`) from the per-requirement statuses; the certificate against its report; every
`passed` requirement against its recorded exchanges (the whole-run checks re-run offline on the
HAR: a failed requirement flipped to passed is caught when its exchanges contradict it); the
renderings against the report; and credential-looking strings anywhere in the bundle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance import __version__
from conformance.certify import har
from conformance.certify.bundle import CERTIFICATE, HAR, RENDERINGS, REPORT, _render, requirement_row
from conformance.certify.manifest import check_manifest
from conformance.certify.verdicts import scope_verdicts
from conformance.contract.schemas import describe, first_error
from conformance.transport.redact import CREDENTIAL_PATTERNS


def verify(directory: str | Path) -> list[str]:
    """Every problem with the bundle, one line each (empty: it verifies)."""
    root = Path(directory)
    if not root.is_dir():
        return [f"{root}: not a directory"]
    problems = check_manifest(root)
    docs: dict[str, Any] = {}
    for name, schema in ((CERTIFICATE, "certificate.schema.json"), (REPORT, "report.schema.json"), (HAR, "har.schema.json")):
        path = root / name
        if not path.is_file():
            problems.append(f"{name}: missing")
            continue
        try:
            docs[name] = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            problems.append(f"{name}: not JSON ({exc})")
            continue
        error = first_error(docs[name], schema)
        if error is not None:
            problems.append(f"{name}: does not match {schema}: {describe(error)}")
            del docs[name]
    certificate, report, evidence = docs.get(CERTIFICATE), docs.get(REPORT), docs.get(HAR)
    if certificate is not None:
        problems += recompute(certificate, CERTIFICATE)
    if report is not None:
        problems += recompute(report, REPORT)
        problems += _renderings(root, report)
    if certificate is not None and report is not None:
        problems += _agree(certificate, report)
    if certificate is not None and evidence is not None:
        problems += contradictions(certificate, evidence)
    problems += credential_scan(root)
    return problems


def recompute(doc: dict[str, Any], name: str) -> list[str]:
    """The rows against the catalogue, and the verdict from the rows (certificate or report)."""
    from conformance.contract.profiles import load_profile
    from conformance.report.results import Results

    version = doc["suite"]["version"]
    if version != __version__:
        return [f"{name}: made by suite version {version}, this is {__version__}: verify it with "
                f"`pip install gateway-conformance=={version}` (the catalogue and its rule are that version's)"]
    try:
        profile = load_profile(doc["profile"]["id"])
    except Exception as exc:  # noqa: BLE001 -- an unknown profile id is the bundle's problem, in one line
        return [f"{name}: profile {doc['profile']['id']!r}: {exc}"]
    problems = []
    for key in ("version", "sha256"):
        if doc["profile"].get(key) != getattr(profile, key):
            problems.append(f"{name}: profile {profile.id} {key} {doc['profile'].get(key)!r} is not the shipped "
                            f"profile's {getattr(profile, key)!r}")
    level = (doc.get("selection") or {}).get("level") or (doc.get("options") or {}).get("level") or "all"
    results = Results(profile, level if level in ("must", "should", "all") else "all")
    expected = {r.id: r for r in results.rows_for()}
    rows = doc["requirements"]
    seen = set()
    for row in rows:
        seen.add(row["id"])
        requirement = expected.get(row["id"])
        if requirement is None:
            problems.append(f"{name}: requirement {row['id']} is not in the catalogue of suite {version} for profile {profile.id}")
            continue
        level_now = _level(requirement, profile.id)
        if row["level"] != level_now:
            problems.append(f"{name}: requirement {row['id']} says level {row['level']}; the catalogue says {level_now}")
        for key, now in (("scope", getattr(requirement, "scope", None)), ("basis", _basis_kind(requirement, profile.id))):
            said = row.get(key)
            said = said.get("kind") if isinstance(said, dict) else said
            if said is not None and now is not None and said != now:
                problems.append(f"{name}: requirement {row['id']} says {key} {said}; the catalogue says {now}")
        if row["status"] == "passed" and not row.get("tests"):
            problems.append(f"{name}: requirement {row['id']} is passed with no test behind it")
    for missing in sorted(set(expected) - seen):
        problems.append(f"{name}: requirement {missing} is missing (the catalogue of suite {version} lists it for "
                        f"profile {profile.id}; a deleted row?)")
    verdict = Results.verdict(rows)
    if doc["verdict"] != verdict:
        problems.append(f"{name}: verdict says {doc['verdict']!r}, but its requirement statuses make it {verdict!r}")
    if "summary" in doc and doc["summary"] != results.summary(rows):
        problems.append(f"{name}: summary counts do not match its requirement statuses")
    if name == CERTIFICATE:
        again = scope_verdicts(rows, doc["claims"]["claimed"])
        if doc["scopes"] != again:
            problems.append(f"{name}: scopes {_scopes(doc['scopes'])} do not match its requirements ({_scopes(again)})")
    return problems


def _level(requirement: Any, profile_id: str) -> str:
    level_for = getattr(requirement, "level_for", None)
    return str(level_for(profile_id)) if callable(level_for) else str(requirement.level)


def _basis_kind(requirement: Any, profile_id: str) -> str | None:
    try:
        return str(requirement.basis(profile_id).basis)
    except (AttributeError, KeyError):
        return None


def _scopes(scopes: list[dict[str, Any]]) -> str:
    return ", ".join(f"{s['scope']}: {s['verdict'] or 'not claimed'}" for s in scopes)


def _agree(certificate: dict[str, Any], report: dict[str, Any]) -> list[str]:
    problems = []
    for key in ("verdict", "date"):
        mine = certificate[key]
        theirs = report["verdict"] if key == "verdict" else report["started_at"]
        if mine != theirs:
            problems.append(f"{CERTIFICATE}: {key} {mine!r} is not the report's {theirs!r}")
    if certificate["profile"] != {k: report["profile"].get(k) for k in ("id", "version", "sha256")}:
        problems.append(f"{CERTIFICATE}: profile is not the report's")
    theirs = {r["id"]: requirement_row(r, report["profile"]["id"]) for r in report["requirements"]}
    for row in certificate["requirements"]:
        other = theirs.get(row["id"])
        if other is not None and (other["status"], other["level"]) != (row["status"], row["level"]):
            problems.append(f"{CERTIFICATE}: requirement {row['id']} is {row['level']} {row['status']}; "
                            f"{REPORT} says {other['level']} {other['status']}")
    return problems


def contradictions(certificate: dict[str, Any], evidence: dict[str, Any]) -> list[str]:
    """Each `passed` requirement whose recorded exchanges fail its whole-run checks, re-run offline.

    Only inference exchanges the run's observer judged (`_inference`) and whose bodies and headers
    the evidence bounds did not cut are re-checked: the observer ran these same checks on them
    during the run, so on an honest bundle they find nothing."""
    import conformance.checks  # noqa: F401  (the families register their checks)
    from conformance.checks.headers import duplicate_request_ids
    from conformance.checks.problem import Problem
    from conformance.checks.registry import whole_run_checks
    from conformance.contract.profiles import load_profile

    try:
        profile = load_profile(certificate["profile"]["id"])
    except Exception:  # noqa: BLE001 -- recompute() already named it
        return []
    base = str(evidence["log"].get("_baseUrl") or "").rstrip("/")
    entries = [e for e in evidence["log"]["entries"]
               if e.get("_inference") and not e.get("_truncated") and e["response"].get("status")
               and (not base or e["request"]["url"].startswith(base + "/v1/"))]
    exchanges = [har.exchange(e) for e in entries]
    entry_of = {id(exchange): str(e.get("_id", "?")) for exchange, e in zip(exchanges, entries, strict=True)}
    found: dict[str, list[str]] = {}

    def file(problems: list[Problem]) -> None:  # each problem names the HAR entry it re-judged
        for problem in problems:
            where = f" ({HAR} entry {entry_of[id(problem.exchange)]})" if id(problem.exchange) in entry_of else ""
            found.setdefault(problem.requirement, []).append(f"{problem}{where}")

    for check in whole_run_checks():
        for exchange in exchanges:
            file(check(exchange, profile))
    file(duplicate_request_ids(exchanges, profile))
    problems = []
    for row in certificate["requirements"]:
        seen = found.get(row["id"])
        if row["status"] == "passed" and seen:
            more = f" (+{len(seen) - 1} more)" if len(seen) > 1 else ""
            problems.append(f"{CERTIFICATE}: requirement {row['id']} is passed, but its recorded exchanges "
                            f"contradict it: {seen[0]}{more}")
    return problems


def _renderings(root: Path, report: dict[str, Any]) -> list[str]:
    problems = []
    for name, kind in RENDERINGS.items():
        path = root / name
        if path.is_file() and path.read_text(encoding="utf-8") != _render(kind, report):
            problems.append(f"{name}: is not the rendering of {REPORT}")
    return problems


def credential_scan(root: Path) -> list[str]:
    problems = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for label, pattern in CREDENTIAL_PATTERNS:
            match = pattern.search(text)
            if match:
                line = text.count("\n", 0, match.start()) + 1
                shown = match.group(0)[:4] + "…"
                problems.append(f"{path.relative_to(root).as_posix()}:{line}: looks like {label} ({shown!r}): "
                                "mask it before publishing")
    return problems


def main(directory: str) -> int:
    problems = verify(directory)
    for problem in problems:
        print(problem)
    if problems:
        print(f"verify: {len(problems)} problem{'s' if len(problems) != 1 else ''} in {directory}")
        return 1
    print(f"verify: {directory} verifies (manifest, schemas, verdict recomputed, evidence re-checked, no credentials)")
    return 0
