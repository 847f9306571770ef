"""The realtime plane's scenarios: malformed agent ids and the concurrency probe.

The handshakes themselves go through `conformance.transport.websocket`; this module decides which
ones to make and what they prove.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conformance.protocol.retry_after import parse_retry_after
from conformance.scenarios.scenario import Scenario, ScenarioInconclusive, ScenarioUnavailable
from conformance.transport.client import Exchange
from conformance.transport.websocket import Handshake, RealtimeClient

if TYPE_CHECKING:
    from conformance.scenarios.inference import ScenarioBook

VALID_AGENT_ID = "gwc-agent-1"  # when the target config names none (realtime.agent_id)
# The longest agent id assumed acceptable when the config does not say (realtime.agent_id_max_chars):
# 4 KiB, the header-value limit of common proxies; one more is "too long for a header value".
DEFAULT_AGENT_ID_MAX_CHARS = 4096
# 8 KiB header values are normal too: when a gateway upgrades the 4097-character id and the config
# names no limit, the probe tries one past every common header limit (nginx and Apache 8 KiB, Node
# and AWS ALB 16 KiB, Cloudflare 32 KiB, Envoy 60 KiB for all headers) before judging.
PAST_EVERY_HEADER_LIMIT = 64 * 1024 + 1
# Each way an agent_id can be malformed: control characters or too long for a header value (the
# gateway forwards it as one). Sent percent-encoded: raw control bytes cannot travel in a URL.
MALFORMED_AGENT_IDS: dict[str, str] = {
    "control_chars": "agent\x07\x1b[31m",
    "crlf": "agent\r\nX-Injected: 1",
    "percent_nul": "agent\x00",
    "too_long": "a" * (DEFAULT_AGENT_ID_MAX_CHARS + 1),
}


def valid_agent_id(config: Any) -> str:
    """The agent id the target config names (`realtime.agent_id`), else a neutral one."""
    return str((config.section("realtime") or {}).get("agent_id") or VALID_AGENT_ID)


def malformed_agent_id(config: Any, variant: str) -> str:
    """`variant`'s malformed id; "too long" is one character past `realtime.agent_id_max_chars`."""
    if variant == "too_long":
        limit = (config.section("realtime") or {}).get("agent_id_max_chars") or DEFAULT_AGENT_ID_MAX_CHARS
        return "a" * (int(limit) + 1)
    return MALFORMED_AGENT_IDS[variant]
# Scenario name → malformed agent_id variant; the first is named after the code (MAP-3's case).
AGENT_ID_SCENARIOS = ("control_chars", "crlf", "percent_nul", "too_long")
UNKNOWN_LIMIT_SESSIONS = 10
RELEASE_ATTEMPTS = 3
NO_RETRY_AFTER_WAIT_S = 0.5  # between tries when the refusal names no Retry-After


def agent_id_scenario_name(code: str, variant: str) -> str:
    return code if variant == AGENT_ID_SCENARIOS[0] else f"agent_id_{variant}"


@dataclass
class ConcurrencyProbe:
    """What holding sessions up to the limit showed: the denial, and whether a freed slot is reused."""

    opened: list[Exchange] = field(default_factory=list)
    denied: Exchange | None = None
    after_release: Exchange | None = None
    unwaited: str | None = None  # why the suite stopped waiting for the freed slot (a wait over the cap)


def probe_concurrency(realtime: RealtimeClient, api_key: str, limit: int | None, label: str,
                      agent_id: str = VALID_AGENT_ID, wait_cap_s: float = 10.0) -> ConcurrencyProbe:
    """Hold sessions until the gateway refuses one, free one, and see a new one accepted.

    A gateway may keep a closed session's slot for a while and say so in its 429's Retry-After: the
    probe waits what each refusal asks, up to `wait_cap_s` (limits.retry_after_cap_s); a longer wait
    is recorded in `unwaited` (inconclusive: the suite's patience, not the gateway's limit). Every
    session is closed before this returns, whatever happened.
    """
    probe = ConcurrencyProbe()
    held: list[Handshake] = []
    attempts = limit + 1 if limit else UNKNOWN_LIMIT_SESSIONS
    try:
        for _ in range(attempts):
            attempt = realtime.handshake(agent_id, api_key, label=label)
            if attempt.connection is None:
                probe.denied = attempt.exchange
                break
            probe.opened.append(attempt.exchange)
            held.append(attempt)
        if probe.denied is None or probe.denied.status != 429 or not held:
            return probe
        held.pop(0).close()
        for try_no in range(RELEASE_ATTEMPTS):  # "wait and retry": the slot may take a while to free
            retry = realtime.handshake(agent_id, api_key, label=label + ":after-release")
            probe.after_release = retry.exchange
            if retry.connection is not None:
                held.append(retry)
                break
            if try_no == RELEASE_ATTEMPTS - 1:
                break
            asked = parse_retry_after(retry.exchange.header("retry-after") or "")
            if asked is not None and asked > wait_cap_s:
                probe.unwaited = (f"{retry.exchange.describe()}: Retry-After asks for {asked:g} s, more than "
                                  f"limits.retry_after_cap_s ({wait_cap_s:g} s), so the freed slot was not waited for")
                break
            time.sleep(asked if asked is not None and asked > 0 else NO_RETRY_AFTER_WAIT_S)
        return probe
    finally:
        for handshake in held:
            handshake.close()
        realtime.close_all()



def _realtime_client(book: ScenarioBook) -> RealtimeClient:
    section = book.config.section("realtime")
    if section is None or not section.get("url"):
        raise ScenarioUnavailable(book.config.missing_section_reason("realtime"))
    if book.realtime_client is None:
        book.realtime_client = RealtimeClient(book.client, section["url"], book.config.headers)
    return book.realtime_client


def concurrency_probes(book: ScenarioBook) -> dict[str, ConcurrencyProbe]:
    """What each concurrency probe showed, by code (the book's, shared by the realtime tests)."""
    return book.concurrency_probes


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
        exchange = _agent_id_handshake(realtime, malformed_agent_id(book.config, variant), key, label)
        if variant == "too_long" and exchange.status == 101 and not agent_id_limit_configured(book.config):
            longer = _agent_id_handshake(realtime, "a" * PAST_EVERY_HEADER_LIMIT, key, label + ":past-every-limit")
            if longer.status != 101 and not _refused_with(longer, book, scenario):
                raise ScenarioInconclusive(
                    f"{exchange.describe()}: a {len(malformed_agent_id(book.config, variant))}-character agent_id was "
                    f"accepted, and one of {PAST_EVERY_HEADER_LIMIT} characters got {longer.status or longer.error} "
                    f"rather than {scenario.expect_status} {scenario.expect_code!r}: the gateway's limit is unknown "
                    "(name it in realtime.agent_id_max_chars)")
            return longer
        return exchange
    if code.trigger == "realtime_concurrency":
        role = book.role(code.role)
        probe = probe_concurrency(realtime, role["api_key"], role.get("limit"), label, valid_agent_id(book.config),
                                  book.config.limits.retry_after_cap_s)
        concurrency_probes(book)[code.code] = probe
        if probe.denied is not None:
            return probe.denied
        if probe.opened:
            return probe.opened[-1]  # every attempt was accepted: MAP-3 reports the missing 429
        raise AssertionError("no handshake was attempted")
    raise AssertionError(f"trigger {code.trigger} is not a realtime trigger")


def agent_id_limit_configured(config: Any) -> bool:
    return bool((config.section("realtime") or {}).get("agent_id_max_chars"))


def _agent_id_handshake(realtime: RealtimeClient, agent_id: str, key: str, label: str) -> Exchange:
    handshake = realtime.handshake(agent_id, key, label=label)
    handshake.close()  # accepted in spite of the bad id: judged by the status, never kept open
    realtime.open_sessions = [h for h in realtime.open_sessions if h is not handshake]
    return handshake.exchange


def _refused_with(exchange: Exchange, book: ScenarioBook, scenario: Scenario) -> bool:
    found, code = book.profile.error_code(exchange.json())
    return exchange.status == scenario.expect_status and found and code == scenario.expect_code


def realtime_scenarios(profile: Any) -> list[Scenario]:
    """The realtime plane's scenarios for `profile` (none when it catalogues no realtime code)."""
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
