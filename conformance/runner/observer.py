"""The whole-run observer: every inference response the run sees is checked, whoever sent it.

Targeted tests only judge the exchanges they were written for; a gateway that answers a fuzzed
or incidental request with a bare 500 page, a status that contradicts its code, or no request id
would slip through. The observer is a `GatewayClient` listener: it runs every check the
registry marks `whole_run` (ENV-1..4, HDR-1..3 on every 429 whatever code it carries, the FUZ-2
time limit) and HDR-1's run-wide uniqueness on each exchange, and keeps the
violations as findings. The plugin drains them after each test and files them as extra results
(`<test nodeid> (observer)`) of the violated requirement, so they travel with the test's report
through xdist like any other result.

Only inference traffic counts: URLs under the target's `/v1/` and not an oracle URL (management
routes answer problem+json by design, and the billing oracle is not the gateway under test).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import conformance.checks  # noqa: F401  (every family registers its checks)
from conformance.checks.problem import Problem, as_problems
from conformance.checks.registry import whole_run_checks
from conformance.contract.profiles import Profile
from conformance.contract.target_config import TargetConfig
from conformance.transport.client import Exchange, GatewayClient

MAX_EVIDENCE = 3
MAX_SEEN_IDS = 100_000


@dataclass
class Finding:
    requirement: str
    problems: list[Problem]
    exchanges: list[Exchange] = field(default_factory=list)


class Observer:
    def __init__(self, client: GatewayClient, profile: Profile, exclude_urls: Sequence[str] = ()) -> None:
        self.client = client
        self.profile = profile
        self.inference_prefix = client.base_url + "/v1/"
        self.exclude_prefixes = [u.split("{")[0] for u in exclude_urls if u.split("{")[0]]
        self._lock = threading.Lock()
        self._findings: dict[str, Finding] = {}
        self._seen_ids: dict[str, str] = {}
        self.checks = whole_run_checks()

    def is_inference(self, exchange: Exchange) -> bool:
        url = exchange.url
        if not url.startswith(self.inference_prefix):
            return False
        return not any(url.startswith(prefix) for prefix in self.exclude_prefixes)

    def __call__(self, exchange: Exchange) -> None:
        if not self.is_inference(exchange):
            return
        for check in self.checks:
            problems = check(exchange, self.profile)
            if problems:
                self.add(check.requirement, problems, exchange)
        repeated = self._repeated_request_id(exchange)
        if repeated:
            self.add("HDR-1", repeated, exchange)

    def add(self, requirement: str, problems: Sequence[Problem | str], exchange: Exchange | None = None, *,
            lead: bool = False) -> None:
        """Record a violation; `lead` puts it first (a fuzzer's shrunk example beats the first one seen).
        A plain-text problem is filed under `requirement`, seen on `exchange`."""
        typed = [p if p.exchange is not None or exchange is None else replace(p, exchange=exchange)
                 for p in as_problems(problems, requirement)]
        with self._lock:
            finding = self._findings.setdefault(requirement, Finding(requirement, []))
            if lead:
                finding.problems[:0] = typed
            else:
                finding.problems.extend(typed)
            if exchange is None or exchange in finding.exchanges:
                return
            if lead:
                finding.exchanges.insert(0, exchange)
                del finding.exchanges[MAX_EVIDENCE:]
            elif len(finding.exchanges) < MAX_EVIDENCE:
                finding.exchanges.append(exchange)

    def drain(self) -> list[Finding]:
        with self._lock:
            findings = list(self._findings.values())
            self._findings.clear()
        return findings

    def _repeated_request_id(self, exchange: Exchange) -> list[Problem]:
        """HDR-1's uniqueness across the whole run (the registry's HDR-1 check sees one exchange)."""
        value = exchange.header(self.profile.request_id_header)
        if exchange.status is None or not value or not value.strip():
            return []
        with self._lock:
            first = self._seen_ids.get(value)
            if first is None and len(self._seen_ids) < MAX_SEEN_IDS:
                self._seen_ids[value] = exchange.describe()
        if first is not None:
            return [Problem.at(exchange, f"{self.profile.request_id_header} {value!r} was already sent for {first}",
                               title="request id repeated", subject=self.profile.request_id_header, requirement="HDR-1")]
        return []


def attach(client: GatewayClient, profile: Profile, exclude_urls: Sequence[str] = ()) -> Observer:
    """Make `client` report every exchange to a new observer (one per client: xdist workers each have one)."""
    observer = Observer(client, profile, list(exclude_urls))
    client.listeners.append(observer)
    return observer


def attach_observer(client: GatewayClient, profile: Profile, config: TargetConfig) -> Observer:
    """The suite's client reports every exchange to the observer; oracle URLs are not inference."""
    billing = config.section("billing") or {}
    oracle = [str(v["url"]) for v in billing.values() if isinstance(v, dict) and "url" in v]
    management = config.section("management") or {}
    if management.get("base_url"):
        oracle.append(str(management["base_url"]))
    return attach(client, profile, oracle)


def observing(client: GatewayClient | None) -> Observer | None:
    """The observer `client` reports to, if any."""
    if client is None:
        return None
    return next((listener for listener in client.listeners if isinstance(listener, Observer)), None)
