"""A static registry of certificates: implementations × profiles × versions, a page per certificate,
each implementation's history, and every bundle downloadable with the command that verifies it.

Static files only (GitHub Pages serves them as they are): no external asset, no server. Each
bundle is verified as it is added (`conformance.certify.verify`); one that does not verify is
left out (or, with `--no-verify`, shown marked "does not verify"). The filters are a few lines of
inline script over the table; the page works without it.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from conformance.errors import ConformanceError

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#1f2328;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}.sub{color:#59636e;margin-top:0}
table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{border-bottom:1px solid #d1d9e0;padding:.45rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}tr:hover td{background:#f6f8fa}
.v-conformant{color:#1a7f37;font-weight:600}.v-non-conformant{color:#cf222e;font-weight:600}.v-incomplete{color:#9a6700;font-weight:600}
.s-passed{color:#1a7f37}.s-failed{color:#cf222e;font-weight:600}.s-skipped,.s-inconclusive,.s-not_claimed{color:#9a6700}.s-error{color:#8250df}
.scopes{font-size:.85rem;color:#59636e}.tag{display:inline-block;border:1px solid #d1d9e0;border-radius:1em;padding:0 .5em;margin:0 .2em .2em 0;font-size:.8rem}
.filters{display:flex;gap:1rem;align-items:center;margin:1rem 0}.filters input,.filters select{padding:.3rem;font-size:.95rem}
code,pre{background:#f6f8fa;border-radius:4px;padding:.1rem .3rem}pre{padding:.7rem;overflow:auto}
.bad{color:#cf222e;font-weight:600}a{color:#0969da}td.id{white-space:nowrap}
.tests{min-width:18rem}.tests code{font-size:.75rem;word-break:break-all}
"""

FILTER_SCRIPT = """
(function(){
  var q=document.getElementById('q'),p=document.getElementById('profile'),v=document.getElementById('verdict');
  var params=new URLSearchParams(location.search);
  if(params.get('q'))q.value=params.get('q');if(params.get('profile'))p.value=params.get('profile');
  if(params.get('verdict'))v.value=params.get('verdict');
  function apply(){
    var text=q.value.toLowerCase(),shown=0;
    document.querySelectorAll('#registry tbody tr').forEach(function(tr){
      var ok=tr.dataset.search.indexOf(text)>=0&&(!p.value||tr.dataset.profiles.split(' ').indexOf(p.value)>=0)
        &&(!v.value||tr.dataset.verdicts.split(' ').indexOf(v.value)>=0);
      tr.hidden=!ok;if(ok)shown++;
    });
    document.getElementById('shown').textContent=shown;
  }
  [q,p,v].forEach(function(el){el.addEventListener('input',apply);el.addEventListener('change',apply);});
  apply();
})();
"""


@dataclass
class Entry:
    """One certificate bundle on the site."""

    source: Path
    certificate: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    slug: str = ""

    @property
    def name(self) -> str:
        return str(self.certificate["implementation"]["name"])

    @property
    def version(self) -> str:
        return str(self.certificate["implementation"]["version"])

    @property
    def profile(self) -> str:
        return str(self.certificate["profile"]["id"])

    @property
    def verdict(self) -> str:
        return str(self.certificate["verdict"])


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def build(bundles: Sequence[str], out: str, *, verify_bundles: bool = True) -> int:
    """Write the site to `out`; exit 1 when a bundle was left out because it does not verify."""
    from conformance.certify.verify import verify

    site = Path(out)
    entries: list[Entry] = []
    left_out = 0
    for directory in bundles:
        path = Path(directory)
        try:
            certificate = json.loads((path / "certificate.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConformanceError(f"registry build: {directory} is not a certificate bundle ({exc})") from None
        problems = verify(path)
        if problems and verify_bundles:
            print(f"registry build: left out {directory}: it does not verify ({problems[0]}"
                  + (f"; +{len(problems) - 1} more" if len(problems) > 1 else "") + ")", file=sys.stderr)
            left_out += 1
            continue
        entries.append(Entry(path, certificate, problems))
    if not entries:
        raise ConformanceError("registry build: no bundle to publish")
    used: set[str] = set()
    for entry in entries:
        base = slug(f"{entry.name}-{entry.version}-{entry.profile}")
        candidate, n = base, 2
        while candidate in used:
            candidate, n = f"{base}-{n}", n + 1
        used.add(candidate)
        entry.slug = candidate
    if site.exists():
        shutil.rmtree(site / "certs", ignore_errors=True)
        shutil.rmtree(site / "impl", ignore_errors=True)
    (site / "certs").mkdir(parents=True, exist_ok=True)
    (site / "impl").mkdir(parents=True, exist_ok=True)
    for entry in entries:
        _publish_bundle(entry, site)
        (site / "certs" / entry.slug / "index.html").write_text(certificate_page(entry), encoding="utf-8")
    for name in sorted({e.name for e in entries}):
        mine = [e for e in entries if e.name == name]
        (site / "impl" / f"{slug(name)}.html").write_text(history_page(name, mine), encoding="utf-8")
    (site / "index.html").write_text(index_page(entries), encoding="utf-8")
    (site / ".nojekyll").write_text("", encoding="utf-8")  # GitHub Pages: serve the files as they are
    print(f"registry: {len(entries)} certificate{'s' if len(entries) != 1 else ''} → {site / 'index.html'}")
    return 1 if left_out else 0


def _publish_bundle(entry: Entry, site: Path) -> None:
    """The bundle's files beside its page (so its report and HAR open in place) and as one zip."""
    target = site / "certs" / entry.slug
    shutil.copytree(entry.source, target / "bundle")
    with zipfile.ZipFile(target / "bundle.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in entry.source.rglob("*") if p.is_file()):
            archive.write(file, f"{entry.slug}/{file.relative_to(entry.source).as_posix()}")


def _page(title: str, body: str, *, script: str = "", depth: int = 0) -> str:
    home = "../" * depth + "index.html"
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
            f"content=\"width=device-width,initial-scale=1\"><title>{escape(title)}</title><style>{STYLE}</style></head>"
            f"<body><p class=\"sub\"><a href=\"{home}\">gateway-conformance registry</a></p>{body}"
            + (f"<script>{script}</script>" if script else "") + "</body></html>\n")


def _verdict(verdict: str | None) -> str:
    if verdict is None:
        return "<span class=\"s-not_claimed\">not claimed</span>"
    return f"<span class=\"v-{escape(verdict)}\">{escape(verdict)}</span>"


def _scopes(certificate: dict[str, Any]) -> str:
    return " ".join(f"<span class=\"tag\">{escape(s['scope'])}: {_verdict(s['verdict'])}</span>"
                    for s in certificate.get("scopes", []))


def _version_key(version: str) -> tuple[Any, ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.\-+]", version))


def index_page(entries: list[Entry]) -> str:
    profiles = sorted({e.profile for e in entries})
    groups: dict[tuple[str, str], dict[str, Entry]] = {}
    for entry in entries:
        groups.setdefault((entry.name, entry.version), {})[entry.profile] = entry
    ordered = sorted(groups, key=lambda k: _version_key(k[1]), reverse=True)  # newest first …
    ordered = sorted(ordered, key=lambda k: k[0].lower())  # … within each implementation (a stable sort)
    head = "".join(f"<th>{escape(p)}</th>" for p in profiles)
    rows = []
    for name, version in ordered:
        cells = []
        mine = groups[(name, version)]
        for profile in profiles:
            shown = mine.get(profile)
            if shown is None:
                cells.append("<td class=\"scopes\">—</td>")
                continue
            warn = " <span class=\"bad\">does not verify</span>" if shown.problems else ""
            cells.append(
                f"<td><a href=\"certs/{shown.slug}/index.html\"><img src=\"certs/{shown.slug}/bundle/badge.svg\" "
                f"alt=\"{escape(profile)}: {escape(shown.verdict)}\"></a>{warn}<div class=\"scopes\">{_scopes(shown.certificate)}</div></td>")
        search = escape(f"{name} {version} {' '.join(mine)}".lower())
        verdicts = " ".join(sorted({e.verdict for e in mine.values()}))
        rows.append(
            f"<tr data-search=\"{search}\" data-profiles=\"{escape(' '.join(sorted(mine)))}\" data-verdicts=\"{escape(verdicts)}\">"
            f"<td><a href=\"impl/{slug(name)}.html\">{escape(name)}</a></td><td>{escape(version)}</td>{''.join(cells)}</tr>")
    options = "".join(f"<option value=\"{escape(p)}\">{escape(p)}</option>" for p in profiles)
    body = (
        "<h1>Conformance certificates</h1><p class=\"sub\">Each verdict below is recomputed by "
        "<code>gateway-conformance verify</code> from the certificate's own evidence before it is listed.</p>"
        "<div class=\"filters\"><label>Implementation <input id=\"q\" type=\"search\" placeholder=\"filter\"></label>"
        f"<label>Profile <select id=\"profile\"><option value=\"\">all</option>{options}</select></label>"
        "<label>Verdict <select id=\"verdict\"><option value=\"\">all</option><option>conformant</option>"
        "<option>non-conformant</option><option>incomplete</option></select></label>"
        f"<span><span id=\"shown\">{len(rows)}</span> of {len(rows)} shown</span></div>"
        f"<table id=\"registry\"><thead><tr><th>Implementation</th><th>Version</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>")
    return _page("gateway-conformance registry", body, script=FILTER_SCRIPT)


def certificate_page(entry: Entry) -> str:
    c = entry.certificate
    impl = c["implementation"]
    about = " · ".join(escape(str(impl[k])) for k in ("organisation", "url", "contact") if impl.get(k))
    rows = []
    for row in c["requirements"]:
        basis = row["basis"]
        text = basis.get("quote") or basis.get("rfc") or basis.get("rationale") or basis.get("section") or ""
        # the test's name (its file is in the report); the full node ids are in certificate.json
        tests = "".join(f"<div><code title=\"{escape(t)}\">{escape(t.rsplit('::', 1)[-1])}</code></div>" for t in row["tests"][:3])
        more = f"<div class=\"scopes\">+{len(row['tests']) - 3} more</div>" if len(row["tests"]) > 3 else ""
        rows.append(
            f"<tr id=\"{escape(row['id'])}\"><td class=\"id\">{escape(row['id'])}</td><td>{escape(row['level'])}</td>"
            f"<td><span class=\"tag\">{escape(str(basis.get('kind', '')))}</span> {escape(str(text))}</td>"
            f"<td>{escape(row['scope'])}</td><td class=\"s-{escape(row['status'])}\">{escape(row['status'])}"
            f"<div class=\"scopes\">{escape(row.get('reason', ''))}</div></td>"
            f"<td><a href=\"bundle/report.html#{escape(row['id'])}\">report</a> · "
            f"<a href=\"bundle/evidence.har\">HAR</a><div class=\"tests\">{tests}{more}</div></td></tr>")
    warn = ("<p class=\"bad\">This bundle does not verify: " + escape("; ".join(entry.problems[:3])) + "</p>"
            if entry.problems else "")
    body = (
        f"<h1>{escape(entry.name)} {escape(entry.version)} — {escape(entry.profile)}</h1>"
        f"<p class=\"sub\">{about}</p>{warn}"
        f"<p><img src=\"bundle/badge.svg\" alt=\"{escape(entry.verdict)}\"> {_verdict(entry.verdict)} · {_scopes(c)}</p>"
        f"<p>Profile {escape(c['profile']['id'])} {escape(c['profile']['version'])} "
        f"(<code>{escape(c['profile']['sha256'][:12])}</code>) · suite {escape(c['suite']['version'])} · run {escape(c['date'])} · "
        f"<a href=\"../../impl/{slug(entry.name)}.html\">history</a></p>"
        "<h2>Check it yourself</h2>"
        f"<p><a href=\"bundle.zip\" download>Download the bundle</a> (or browse it: <a href=\"bundle/report.html\">report</a>, "
        f"<a href=\"bundle/certificate.json\">certificate.json</a>, <a href=\"bundle/evidence.har\">evidence.har</a>, "
        f"<a href=\"bundle/MANIFEST.sha256\">MANIFEST.sha256</a>), then:</p>"
        f"<pre>unzip bundle.zip &amp;&amp; gateway-conformance verify {escape(entry.slug)}</pre>"
        f"<p>Reproduce the run: <code>{escape(c['command'])}</code></p>"
        "<h2>Requirements</h2><table><thead><tr><th>Id</th><th>Level</th><th>Basis</th><th>Scope</th><th>Status</th>"
        f"<th>Evidence</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    return _page(f"{entry.name} {entry.version} ({entry.profile})", body, depth=2)


def history_page(name: str, entries: list[Entry]) -> str:
    rows = []
    for entry in sorted(entries, key=lambda e: (_version_key(e.version), e.certificate["date"]), reverse=True):
        c = entry.certificate
        failed = [r["id"] for r in c["requirements"] if r["status"] == "failed"]
        rows.append(
            f"<tr><td>{escape(entry.version)}</td><td>{escape(entry.profile)}</td><td>{escape(c['date'])}</td>"
            f"<td><a href=\"../certs/{entry.slug}/index.html\">{_verdict(entry.verdict)}</a></td>"
            f"<td class=\"scopes\">{_scopes(c)}</td><td>{escape(', '.join(failed)) or '—'}</td></tr>")
    body = (f"<h1>{escape(name)}: history</h1><table><thead><tr><th>Version</th><th>Profile</th><th>Run</th>"
            f"<th>Verdict</th><th>Scopes</th><th>Failed</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    return _page(f"{name}: history", body, depth=1)
