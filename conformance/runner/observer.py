"""The whole-run observer: every inference response the run sees is checked, whoever sent it.

Targeted tests only judge the exchanges they were written for; a gateway that answers a fuzzed
or incidental request with a bare 500 page, a status that contradicts its code, or no request id
would slip through. The observer is a `GatewayClient` listener: it runs the shared checks of
`conformance.checks` (ENV-1..4, HDR-1, and HDR-2/HDR-3 on every 429) and the FUZ-2 time limit on each exchange and keeps the
violations as findings. The plugin drains them after each test and files them as extra results
(`<test nodeid> (observer)`) of the violated requirement, so they travel with the test's report
through xdist like any other result.

Only inference traffic counts: URLs under the target's `/v1/` and not an oracle URL (management
routes answer problem+json by design, and the billing oracle is not the gateway under test).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

from conformance import checks
from conformance.transport.client import Exchange, GatewayClient
from conformance.contract.profiles import Profile

MAX_EVIDENCE = 3
MAX_SEEN_IDS = 100_000


def timeout_problems(exchange: Exchange) -> list[str]:
    """FUZ-2: the answer came within the client's deadline."""
    if exchange.error and exchange.error.startswith("timed out"):
        return [f"{exchange.describe()}: no complete answer in time ({exchange.error})"]
    return []


@dataclass
class Finding:
    requirement: str
    problems: list[str]
    exchanges: list[Exchange] = field(default_factory=list)


class Observer:
    def __init__(self, client: GatewayClient, profile: Profile, exclude_urls: list[str] = ()) -> None:
        self.client = client
        self.profile = profile
        self.inference_prefix = client.base_url + "/v1/"
        self.exclude_prefixes = [u.split("{")[0] for u in exclude_urls if u.split("{")[0]]
        self._lock = threading.Lock()
        self._findings: dict[str, Finding] = {}
        self._seen_ids: dict[str, str] = {}
        self.checks: list[tuple[str, Callable[[Exchange], list[str]]]] = [
            ("ENV-1", self._envelope), ("ENV-2", self._code), ("ENV-3", self._status), ("ENV-4", self._message),
            ("HDR-1", self._request_id), ("FUZ-2", timeout_problems),
            # "Every 429": whatever code it carries (a budget or quota 429 a catalogue never named).
            ("HDR-2", checks.retry_after_problems),
            ("HDR-3", lambda exchange: checks.rate_limit_header_problems(exchange, profile)),
        ]

    def is_inference(self, exchange: Exchange) -> bool:
        url = exchange.url
        if not url.startswith(self.inference_prefix):
            return False
        return not any(url.startswith(prefix) for prefix in self.exclude_prefixes)

    def __call__(self, exchange: Exchange) -> None:
        if not self.is_inference(exchange):
            return
        for requirement, check in self.checks:
            problems = check(exchange)
            if problems:
                self.add(requirement, problems, exchange)

    def add(self, requirement: str, problems: list[str], exchange: Exchange | None = None, *, lead: bool = False) -> None:
        """Record a violation; `lead` puts it first (a fuzzer's shrunk example beats the first one seen)."""
        with self._lock:
            finding = self._findings.setdefault(requirement, Finding(requirement, []))
            if lead:
                finding.problems[:0] = problems
            else:
                finding.problems.extend(problems)
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

    # --- the checks, each only where it can read the response -------------------------------
    def _envelope(self, exchange: Exchange) -> list[str]:
        return checks.envelope_problems(exchange, self.profile) if checks.is_error(exchange) else []

    def _readable_error(self, exchange: Exchange) -> bool:
        return checks.is_error(exchange) and checks.has_envelope_shape(exchange, self.profile)

    def _code(self, exchange: Exchange) -> list[str]:
        return checks.code_problems(exchange, self.profile) if self._readable_error(exchange) else []

    def _status(self, exchange: Exchange) -> list[str]:
        return checks.status_problems(exchange, self.profile) if self._readable_error(exchange) else []

    def _message(self, exchange: Exchange) -> list[str]:
        return checks.message_problems(exchange, self.profile) if self._readable_error(exchange) else []

    def _request_id(self, exchange: Exchange) -> list[str]:
        problems = checks.request_id_problems(exchange, self.profile)
        value = exchange.header(self.profile.request_id_header)
        if problems or not value:
            return problems
        with self._lock:
            first = self._seen_ids.get(value)
            if first is None and len(self._seen_ids) < MAX_SEEN_IDS:
                self._seen_ids[value] = exchange.describe()
        if first is not None:
            return [f"{exchange.describe()}: {self.profile.request_id_header} {value!r} was already sent for {first}"]
        return []


def attach(client: GatewayClient, profile: Profile, exclude_urls: list[str] = ()) -> Observer:
    """Make `client` report every exchange to a new observer (one per client: xdist workers each have one)."""
    observer = Observer(client, profile, list(exclude_urls))
    client.listeners.append(observer)
    return observer


def observing(client: GatewayClient | None) -> Observer | None:
    """The observer `client` reports to, if any."""
    if client is None:
        return None
    return next((listener for listener in client.listeners if isinstance(listener, Observer)), None)
