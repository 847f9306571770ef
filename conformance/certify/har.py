"""Every exchange of a run as HAR 1.2 (`evidence.har`), and back to `Exchange`s for offline checks.

Why HAR: any browser's devtools and many tools read it, and its custom fields (names starting with
`_`) carry what a reviewer needs to find a requirement's exchanges: `_test`, `_requirement`, the
`_role` whose credential it presented (the file holds masked credentials only), whether the
whole-run observer counts it as inference traffic (`_inference`), and `_truncated` when a body or
header was cut to the report's evidence bounds (an offline check must not judge a cut body).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from conformance import __version__
from conformance.transport.client import EVIDENCE_BODY_CHARS, EVIDENCE_HEADER_CHARS, EVIDENCE_MAX_HEADERS, Exchange
from conformance.transport.redact import Redactor

HAR_PROPERTY = "gateway_conformance_har"  # the user property that carries a test's entries to the controller


def role_names(roles: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Credential → role name, so each entry can say which role's key to put back on replay."""
    names: dict[str, str] = {}
    for name, role in roles.items():
        key = role.get("api_key") if isinstance(role, dict) else None
        if isinstance(key, str) and key:
            names.setdefault(key, name)
    return names


def entry(exchange: Exchange, redactor: Redactor, *, uid: str, test: str, requirement: str,
          roles: dict[str, str], inference: bool) -> dict[str, Any]:
    """One HAR entry: the exchange as the report's evidence shows it (masked, bounded) plus our fields."""
    shown = exchange.evidence(redactor)
    request = shown["request"]
    response = shown.get("response")
    role = next((roles[c] for c in exchange.presented_credentials if c in roles), None)
    truncated = bool(exchange.truncated) or _cut(exchange)
    started = datetime.fromtimestamp(getattr(exchange, "started_at", 0.0) or 0.0, timezone.utc)
    har_request: dict[str, Any] = {
        "method": request["method"], "url": request["url"], "httpVersion": "HTTP/1.1",
        "headers": [{"name": k, "value": v} for k, v in request["headers"].items()],
        "queryString": [{"name": k, "value": v} for k, v in parse_qsl(urlsplit(request["url"]).query)],
        "cookies": [], "headersSize": -1, "bodySize": len(exchange.request_body or b""),
    }
    if "body" in request:
        har_request["postData"] = {"mimeType": exchange.request_headers.get("content-type", ""), "text": request["body"]}
    if response is not None:
        har_response: dict[str, Any] = {
            "status": response["status"], "statusText": "", "httpVersion": "HTTP/1.1",
            "headers": [{"name": k, "value": v} for k, v in response["headers"].items()],
            "cookies": [], "redirectURL": "", "headersSize": -1, "bodySize": len(exchange.body),
            "content": {"size": len(exchange.body), "mimeType": exchange.headers.get("content-type", ""),
                        "text": response["body"]},
        }
    else:  # no answer: HAR has no place for that but status 0 (what browsers write) and our `_error`
        har_response = {"status": 0, "statusText": "", "httpVersion": "", "headers": [], "cookies": [],
                        "redirectURL": "", "headersSize": -1, "bodySize": -1, "content": {"size": 0, "mimeType": ""}}
    out: dict[str, Any] = {
        "startedDateTime": started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "time": round(exchange.elapsed_s * 1000, 3),
        "request": har_request, "response": har_response, "cache": {},
        "timings": {"send": 0, "wait": round(exchange.elapsed_s * 1000, 3), "receive": 0},
        "_id": uid, "_test": test, "_requirement": requirement, "_label": exchange.label,
        "_role": role, "_inference": inference, "_truncated": truncated,
    }
    if exchange.error:
        out["_error"] = shown.get("error", exchange.error)
    slow = getattr(exchange, "slow_on_purpose", None)
    if slow:  # another requirement made it slow (UPS-8): the whole-run FUZ-2 check skips it, offline too
        out["_slowOnPurpose"] = slow
    return out


def _cut(exchange: Exchange) -> bool:
    """Whether the evidence bounds cut anything an offline check would read."""
    if len(exchange.body) > EVIDENCE_BODY_CHARS or len(exchange.request_body or b"") > EVIDENCE_BODY_CHARS:
        return True
    items = exchange.headers.multi_items()
    if len(items) > EVIDENCE_MAX_HEADERS or len(exchange.request_headers) > EVIDENCE_MAX_HEADERS:
        return True
    return any(len(k) > EVIDENCE_HEADER_CHARS or len(v) > EVIDENCE_HEADER_CHARS for k, v in items)


def document(entries: Iterable[dict[str, Any]], *, base_url: str = "") -> dict[str, Any]:
    ordered = sorted(entries, key=lambda e: (e["startedDateTime"], e["_id"]))
    return {"log": {"version": "1.2", "creator": {"name": "gateway-conformance", "version": __version__},
                    "comment": "every exchange of the run; credentials masked, bodies bounded as the report's evidence",
                    "_baseUrl": base_url, "entries": ordered}}


def merge_references(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries plus `{"_ref": id, "_test", "_requirement"}` records (a test citing an exchange an
    earlier test sent) → entries whose `_citedBy` lists every other test that judged them."""
    entries: dict[str, dict[str, Any]] = {}
    refs: list[dict[str, Any]] = []
    for item in items:
        if "_ref" in item:
            refs.append(item)
        else:
            entries[item["_id"]] = item
    for ref in refs:
        target = entries.get(ref["_ref"])
        if target is None:
            continue
        cited = target.setdefault("_citedBy", [])
        mark = {"test": ref["_test"], "requirement": ref["_requirement"]}
        if mark not in cited and (target["_test"], target["_requirement"]) != (mark["test"], mark["requirement"]):
            cited.append(mark)
    return list(entries.values())


def write(doc: dict[str, Any], path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def load(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def for_requirement(doc: dict[str, Any], requirement: str, test: str | None = None) -> list[dict[str, Any]]:
    """The entries a requirement's tests sent or cited (or one test's), in the order they were sent."""
    out = []
    for item in doc["log"]["entries"]:
        marks = [{"test": item["_test"], "requirement": item["_requirement"]}, *item.get("_citedBy", [])]
        if any(m["requirement"] == requirement and (test is None or m["test"] == test) for m in marks):
            out.append(item)
    return out


def exchange(item: dict[str, Any]) -> Exchange:
    """The recorded exchange back as an `Exchange` (masked credentials, bounded bodies)."""
    request = item["request"]
    response = item["response"]
    body = request.get("postData", {}).get("text")
    result = Exchange(
        method=request["method"], url=request["url"],
        request_headers={h["name"]: h["value"] for h in request["headers"]},
        request_body=body.encode("utf-8") if body is not None else None, label=item.get("_label", ""),
    )
    if response.get("status"):
        result.status = int(response["status"])
        result.headers = httpx.Headers([(h["name"], h["value"]) for h in response["headers"]])
        result.body = str(response.get("content", {}).get("text", "")).encode("utf-8")
    result.error = item.get("_error")
    result.truncated = bool(item.get("_truncated"))
    result.slow_on_purpose = item.get("_slowOnPurpose")
    return result
