"""Realtime (WebSocket) handshakes, recorded as `Exchange`s like every HTTP request.

A realtime gateway reports `invalid_agent_id` and `concurrency_limit_exceeded` as the HTTP answer
to the upgrade request, before any WebSocket exists. Recording that answer as an `Exchange` lets
the envelope, header, redaction and evidence code judge it like any other error; each handshake
counts against the run's request budget. Sessions the suite opens are always closed by the
caller's `finally` (a hostile target must not keep our sockets, and a real one must get its
session slots back).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
from websockets.exceptions import InvalidHandshake, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from conformance.checks import parse_retry_after
from conformance.client import MAX_BODY_BYTES, Exchange, GatewayClient

if TYPE_CHECKING:
    from conformance.scenarios import Scenario, ScenarioBook

VALID_AGENT_ID = "gwc-agent-1"
# Each way an agent_id can be malformed: control characters or too long for a header value (the
# gateway forwards it as one). Sent percent-encoded: raw control bytes cannot travel in a URL.
MALFORMED_AGENT_IDS: dict[str, str] = {
    "control_chars": "agent\x07\x1b[31m",
    "crlf": "agent\r\nX-Injected: 1",
    "percent_nul": "agent\x00",
    # Over 4 KiB: past the header-value limit of common proxies, yet a URL every HTTP stack parses.
    "too_long": "a" * 4097,
}
# Scenario name → malformed agent_id variant; the first is named after the code (MAP-3's case).
AGENT_ID_SCENARIOS = ("control_chars", "crlf", "percent_nul", "too_long")
UNKNOWN_LIMIT_SESSIONS = 10
RELEASE_ATTEMPTS = 3
RELEASE_WAIT_CAP_S = 2.0


def agent_id_scenario_name(code: str, variant: str) -> str:
    return code if variant == AGENT_ID_SCENARIOS[0] else f"agent_id_{variant}"


@dataclass
class Handshake:
    """One upgrade attempt: its exchange, and the open session when the gateway accepted it."""

    exchange: Exchange
    connection: ClientConnection | None = None

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except (WebSocketException, OSError):
                pass
            self.connection = None


@dataclass
class ConcurrencyProbe:
    """What holding sessions up to the limit showed: the denial, and whether a freed slot is reused."""

    opened: list[Exchange] = field(default_factory=list)
    denied: Exchange | None = None
    after_release: Exchange | None = None


class RealtimeClient:
    """Opens handshakes on the target config's realtime URL with the run's budget and redactor."""

    def __init__(self, client: GatewayClient, url_template: str, headers: dict[str, str] | None = None) -> None:
        self.client = client
        self.url_template = url_template
        self.headers = dict(headers or {})
        self.open_sessions: list[Handshake] = []

    def url(self, agent_id: str) -> str:
        return self.url_template.replace("{agent_id}", quote(agent_id, safe=""))

    def handshake(self, agent_id: str, api_key: str | None, *, label: str) -> Handshake:
        """Try one upgrade; a refusal is data (`.exchange.status`), never a raise."""
        headers = dict(self.headers)
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
            self.client.redactor.add(api_key)
        exchange = Exchange(
            method="GET", url=self.url(agent_id), request_headers=headers, request_body=None, label=label,
            presented_credentials=(api_key,) if api_key else (),
        )
        self.client.budget.acquire()
        started = time.monotonic()
        handshake = Handshake(exchange)
        try:
            connection = _connect_without_redirects(exchange.url, headers, self.client)
        except InvalidStatus as exc:
            _fill(exchange, exc.response.status_code, exc.response.headers.raw_items(), exc.response.body or b"")
        except TimeoutError:
            exchange.error = f"timed out: no handshake answer within {self.client.timeout_s:g} s"
        except (InvalidHandshake, WebSocketException) as exc:
            exchange.error = f"not a valid WebSocket handshake answer: {exc}"
        except OSError as exc:
            exchange.error = f"cannot connect: {exc.strerror or exc}"
        else:
            response = connection.response
            assert response is not None
            _fill(exchange, response.status_code, response.headers.raw_items(), b"")
            handshake.connection = connection
            self.open_sessions.append(handshake)
        exchange.elapsed_s = time.monotonic() - started
        self.client._record(exchange)
        return handshake

    def close_all(self) -> None:
        while self.open_sessions:
            self.open_sessions.pop().close()


def _connect_without_redirects(url: str, headers: dict[str, str], client: GatewayClient) -> ClientConnection:
    """`websockets` follows redirects by default; the suite never does (as for HTTP): a 3xx is the answer."""
    connecter: Any = connect(
        url, additional_headers=headers, user_agent_header="gateway-conformance", proxy=None,
        open_timeout=client.timeout_s, close_timeout=2, compression=None, max_size=client.max_body_bytes,
        legacy=False,
    )
    connecter.process_redirect = lambda exc: exc  # every refusal, 3xx included, stays an InvalidStatus
    connection: ClientConnection = connecter.connect()
    connection.pending_legacy_warning = False  # we close it ourselves, as `legacy=True` would promise
    return connection


def _fill(exchange: Exchange, status: int, raw_headers: Any, body: bytes) -> None:
    exchange.status = status
    exchange.headers = httpx.Headers(list(raw_headers))
    exchange.body = bytes(body[:MAX_BODY_BYTES])


def probe_concurrency(realtime: RealtimeClient, api_key: str, limit: int | None, label: str) -> ConcurrencyProbe:
    """Hold sessions until the gateway refuses one, free one, and see a new one accepted.

    Every session is closed before this returns, whatever happened.
    """
    probe = ConcurrencyProbe()
    held: list[Handshake] = []
    attempts = limit + 1 if limit else UNKNOWN_LIMIT_SESSIONS
    try:
        for _ in range(attempts):
            attempt = realtime.handshake(VALID_AGENT_ID, api_key, label=label)
            if attempt.connection is None:
                probe.denied = attempt.exchange
                break
            probe.opened.append(attempt.exchange)
            held.append(attempt)
        if probe.denied is None or probe.denied.status != 429 or not held:
            return probe
        held.pop(0).close()
        for _ in range(RELEASE_ATTEMPTS):  # "wait and retry": the slot may take a moment to free
            retry = realtime.handshake(VALID_AGENT_ID, api_key, label=label + ":after-release")
            probe.after_release = retry.exchange
            if retry.connection is not None:
                held.append(retry)
                break
            wait = parse_retry_after(retry.exchange.header("retry-after") or "") or 0.2
            time.sleep(min(wait, RELEASE_WAIT_CAP_S))
        return probe
    finally:
        for handshake in held:
            handshake.close()
        realtime.close_all()


# --- the scenario book's realtime scenarios ------------------------------------------------------

def _realtime_client(book: ScenarioBook) -> RealtimeClient:
    from conformance.scenarios import ScenarioUnavailable

    section = book.config.section("realtime")
    if section is None or not section.get("url"):
        raise ScenarioUnavailable(book.config.missing_section_reason("realtime"))
    realtime = getattr(book, "_realtime_client", None)
    if realtime is None:
        realtime = RealtimeClient(book.client, section["url"], book.config.headers)
        book._realtime_client = realtime  # type: ignore[attr-defined]
    return realtime


def concurrency_probes(book: ScenarioBook) -> dict[str, ConcurrencyProbe]:
    probes = getattr(book, "_concurrency_probes", None)
    if probes is None:
        probes = book._concurrency_probes = {}  # type: ignore[attr-defined]
    return probes


def run_realtime_scenario(book: ScenarioBook, scenario: Scenario) -> Exchange:
    """A realtime scenario's exchange: a malformed agent_id handshake, or the concurrency denial."""
    code = book.profile.code(scenario.expect_code or "")
    assert code is not None and code.role is not None
    realtime = _realtime_client(book)
    label = f"scenario:{scenario.name}"
    if code.trigger == "realtime_agent_id":
        role_name = (book.config.section("realtime") or {}).get("role") or "valid"
        key = book.role(role_name)["api_key"]
        variant = AGENT_ID_SCENARIOS[0] if scenario.name == code.code else scenario.name.removeprefix("agent_id_")
        handshake = realtime.handshake(MALFORMED_AGENT_IDS[variant], key, label=label)
        handshake.close()  # accepted in spite of the bad id: judged by the status, never kept open
        realtime.open_sessions = [h for h in realtime.open_sessions if h is not handshake]
        return handshake.exchange
    if code.trigger == "realtime_concurrency":
        role = book.role(code.role)
        probe = probe_concurrency(realtime, role["api_key"], role.get("limit"), label)
        concurrency_probes(book)[code.code] = probe
        if probe.denied is not None:
            return probe.denied
        if probe.opened:
            return probe.opened[-1]  # every attempt was accepted: MAP-3 reports the missing 429
        raise AssertionError("no handshake was attempted")
    raise AssertionError(f"trigger {code.trigger} is not a realtime trigger")


def realtime_scenarios(profile: Any) -> list[Scenario]:
    """The realtime plane's scenarios for `profile` (none when it catalogues no realtime code)."""
    from conformance.scenarios import Scenario

    scenarios: list[Scenario] = []
    for code in profile.codes:
        if code.plane != "realtime" or code.role is None:
            continue
        if code.trigger == "realtime_agent_id":
            for variant in AGENT_ID_SCENARIOS:
                scenarios.append(Scenario(
                    agent_id_scenario_name(code.code, variant), "realtime", code.status, code.code, role=code.role,
                    param="agent_id", description=f"realtime handshake with a malformed agent_id ({variant})",
                ))
        elif code.trigger == "realtime_concurrency":
            scenarios.append(Scenario(
                code.code, "realtime", code.status, code.code, role=code.role,
                description=f"one realtime session more than role '{code.role}' may hold",
            ))
    return scenarios
