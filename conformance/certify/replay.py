"""`gateway-conformance replay DIR --requirement ID --target URL`: check a fix in seconds.

Resends the exchanges one requirement's tests sent or judged (and, for each judged exchange, the
exchanges with the same label and role its test sent before it: a rate-limit burst's N requests
before the 429) against a gateway, with the credentials of the same roles from the target config
(the HAR holds masked ones), and judges the answers with the same registered checks.

Exit 0: no check found a problem and every judged exchange got the status it got when recorded
(the same situation was provoked); 1: a check found a problem; 3: inconclusive (the answers
differ in status, so the checks judged another situation; or no offline check exists for it).
"""

from __future__ import annotations

from typing import Any

from conformance.certify import har
from conformance.errors import ConformanceError

EXIT_PASSED, EXIT_FAILED, EXIT_INCONCLUSIVE = 0, 1, 3


def plan(doc: dict[str, Any], requirement: str, test: str | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(entries to resend in order, the judged ones among them)."""
    entries = doc["log"]["entries"]
    judged = har.for_requirement(doc, requirement, test)
    wanted: set[str] = set()
    for item in judged:
        wanted.add(item["_id"])
        if not item.get("_label"):
            continue
        for other in entries:  # the run-up: same test, label and role, sent before it
            if other is item:
                break
            if (other["_test"], other.get("_label"), other.get("_role")) == (item["_test"], item["_label"], item.get("_role")):
                wanted.add(other["_id"])
    return [e for e in entries if e["_id"] in wanted], judged


def replay(directory: str, requirement: str, target: str, config_ref: str | None, test: str | None = None) -> int:
    import json
    from pathlib import Path

    import conformance.checks  # noqa: F401
    from conformance.certify.bundle import CERTIFICATE, HAR
    from conformance.checks.registry import all_checks
    from conformance.contract.profiles import load_profile
    from conformance.contract.target_config import load_config
    from conformance.transport.client import GatewayClient
    from conformance.transport.redact import Redactor

    root = Path(directory)
    try:
        certificate = json.loads((root / CERTIFICATE).read_text(encoding="utf-8"))
        doc = har.load(root / HAR)
    except (OSError, ValueError) as exc:
        raise ConformanceError(f"replay: {directory} is not a certificate bundle ({exc})") from None
    profile = load_profile(certificate["profile"]["id"])
    checks = [c for c in all_checks() if c.requirement == requirement and _single(c)]
    to_send, judged = plan(doc, requirement, test)
    if not judged:
        raise ConformanceError(f"replay: {directory} has no recorded exchange for {requirement}"
                               + (f" in test {test}" if test else ""))
    config = load_config(config_ref)
    roles = {name: role.get("api_key") for name, role in config.roles.items() if isinstance(role, dict)}
    client = GatewayClient(target, timeout_s=config.request_timeout_s, headers=config.headers,
                           redactor=Redactor(config.secrets()))
    base = str(doc["log"].get("_baseUrl") or "").rstrip("/")
    judged_ids = {e["_id"] for e in judged}
    problems: list[tuple[Any, str]] = []  # (Problem, the HAR entry of the exchange it re-judged)
    differ: list[str] = []
    reproduced = 0
    held: list[Any] = []  # accepted WebSocket sessions stay open until the end (a concurrency limit's run-up)
    try:
        for item in to_send:
            recorded = har.exchange(item)
            role = item.get("_role")
            key = roles.get(role) if role else None
            if role and not key:
                raise ConformanceError(f"replay: the target config has no `roles.{role}.api_key` "
                                       f"(the recorded {recorded.describe()} used role {role})")
            sent = _resend(client, recorded, base, key, held)
            if item["_id"] not in judged_ids:
                continue
            print(f"  {recorded.describe()}  now  {sent.describe()}")
            for check in checks:
                problems += [(problem, item["_id"]) for problem in check(sent, profile)]
            if sent.status != recorded.status:
                differ.append(f"recorded {recorded.describe()}, now {sent.describe()}")
            else:
                reproduced += 1
    finally:
        for handshake in held:
            handshake.close()
        client.close()
    if problems:
        for problem, entry in problems:
            print(f"{requirement} failed: {problem} (re-sent from {HAR} entry {entry})")
        return EXIT_FAILED
    if not checks:
        print(f"{requirement} inconclusive: no check of it can judge a single exchange offline; run the suite "
              f"(`gateway-conformance run -k {requirement}`)")
        return EXIT_INCONCLUSIVE
    if not reproduced:
        print(f"{requirement} inconclusive: no judged exchange got the status it was recorded with, so the checks "
              "judged another situation: " + "; ".join(differ[:3]))
        return EXIT_INCONCLUSIVE
    print(f"{requirement} passed: {reproduced} of {len(judged)} judged exchange{'s' if len(judged) != 1 else ''} "
          f"reproduced and judged ({len(to_send)} sent) against {client.redactor.text(target)}")
    for line in differ:
        print(f"  not reproduced (judged nothing): {line}")
    return EXIT_PASSED


def _single(check: Any) -> bool:
    import inspect

    first = next(iter(inspect.signature(check.function).parameters.values()), None)
    return first is not None and "list" not in str(first.annotation)


def _resend(client: Any, recorded: Any, base: str, key: str | None, held: list[Any]) -> Any:
    """The recorded request again, at the new target, with the role's real credential back (a
    WebSocket handshake as a handshake: its accepted sessions are kept in `held`)."""
    from urllib.parse import urlsplit

    parts = urlsplit(recorded.url)
    if parts.scheme in ("ws", "wss"):
        from conformance.transport.websocket import RealtimeClient

        target = urlsplit(client.base_url)
        url = f"{'wss' if target.scheme == 'https' else 'ws'}://{target.netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        handshake = RealtimeClient(client, url).handshake("", key, label=recorded.label)
        if handshake.connection is not None:
            held.append(handshake)
        return handshake.exchange
    path = recorded.url[len(base):] if base and recorded.url.startswith(base) else parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {k: v for k, v in recorded.request_headers.items()
               if k.lower() not in ("authorization", "host", "content-length", "user-agent", "accept-encoding", "connection")}
    authorization = recorded.request_headers.get("authorization") or recorded.request_headers.get("Authorization")
    kwargs: dict[str, Any] = {"headers": headers, "label": recorded.label}
    if key:
        scheme = (authorization or "Bearer x").split(" ", 1)[0]
        kwargs.update(api_key=key, scheme=scheme)
    elif authorization and "REDACTED" not in authorization:
        kwargs["authorization"] = authorization
    if recorded.request_body is not None:
        kwargs["content"] = recorded.request_body
    return client.request(recorded.method, path, **kwargs)
