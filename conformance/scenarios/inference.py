"""The error scenarios a profile implies, each run at most once per session and shared.

ENV-1..5, MAP-*, SEC-* and HDR-1 all look at the same handful of rejections (no key, bad keys,
each role's code, unknown paths, bad parameters). Running each once and letting every requirement
read the same exchange keeps a run cheap for the target and makes one defect show up exactly
where it belongs.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from conformance.contract.profiles import Code, Profile
from conformance.contract.target_config import TargetConfig
from conformance.outcomes import billable_reason
from conformance.scenarios.realtime import ConcurrencyProbe, realtime_scenarios
from conformance.scenarios.scenario import (
    Memo,
    Scenario,
    ScenarioInconclusive,
    ScenarioUnavailable,
    unprovoked_burst_reason,
)
from conformance.transport.client import Exchange, GatewayClient, ahead_lane
from conformance.transport.gather import run_lanes
from conformance.transport.websocket import RealtimeClient

CHAT = "/v1/chat/completions"
DEFAULT_MODEL = "gpt-4o-mini"
BURST_HEADROOM = 10
BURST_UNKNOWN_LIMIT = 60
T = TypeVar("T")


# MAP-2's wrong scheme: an auth-scheme no specification defines, so no gateway can read the valid key
# behind it as a credential. Not Basic: a gateway may accept the key as a Basic user name (Stripe
# does), and that key is then neither missing nor invalid (RFC 9110 §11.1 schemes are a registry;
# a gateway may implement more than one). A gateway that takes the token after any scheme fails.
UNDEFINED_SCHEME = "Gwc-Undefined-Scheme"

MISSING_V1_STRICT = "/chat/completions"
MISSING_V1_LENIENT = "/chat/does-not-exist"


@dataclass
class Burst:
    """What driving a key into its rate limit sent: every answer, and the refusal if one came."""

    attempts: int
    sent: list[Exchange] = field(default_factory=list)
    refused: Exchange | None = None

    @property
    def last(self) -> Exchange:
        """The refusal, or the last answer when none came (MAP-3 reports the missing 429)."""
        assert self.sent, "a burst sends at least one request"
        return self.refused or self.sent[-1]


def name_for(code: Code) -> str:
    """The scenario whose response carries `code` (no key at all for the unauthorized code)."""
    return "no_credentials" if code.trigger == "no_credentials" else code.code


class ScenarioBook:
    def __init__(self, client: GatewayClient, profile: Profile, config: TargetConfig, *, allow_billable: bool) -> None:
        self.client = client
        self.profile = profile
        self.config = config
        self.allow_billable = allow_billable
        self.scenarios: dict[str, Scenario] = {s.name: s for s in build_scenarios(profile)}
        self._results: dict[str, Exchange] = {}
        self._failures: dict[str, ScenarioUnavailable] = {}
        self.burst_history: dict[str, list[Exchange]] = {}
        # Session-wide results other layers share through the book (the billing control, run once
        # for CHG-0 and FUZ-3 alike): key → value, set by their owners.
        self.shared: dict[str, Any] = {}
        # The realtime plane's: one WebSocket client (made on the first realtime scenario) and what
        # each concurrency probe showed, by code (MAP-3 sends, the realtime tests read).
        self.realtime_client: RealtimeClient | None = None
        self.concurrency_probes: dict[str, ConcurrencyProbe] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._once = Memo()
        self._planned: dict[Any, tuple[str, threading.Event]] = {}  # `plan`: key → (lane, made)
        # api key → (lane, its `once` calls in order): what `start_chains` drives ahead on that key
        self._chains: dict[str, tuple[str, list[tuple[Any, Callable[[], object]]]]] = {}

    # --- what tests call -------------------------------------------------------------------
    def names(self, *kinds: str) -> list[str]:
        return [s.name for s in self.scenarios.values() if not kinds or s.kind in kinds]

    def get(self, name: str) -> Exchange:
        """The scenario's exchange, running it on first use; raises ScenarioUnavailable with a reason."""
        if name in self._results:
            return self._results[name]
        if name in self._failures:
            raise self._failures[name]
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:  # gathered in the background right now: wait for that answer, never send twice
            if name in self._results:
                return self._results[name]
            if name in self._failures:
                raise self._failures[name]
            scenario = self.scenarios[name]
            try:
                exchange = self._run(scenario)
            except ScenarioUnavailable as exc:
                self._failures[name] = exc
                raise
            self._results[name] = exchange
            return exchange

    def once(self, key: Any, make: Callable[[], T]) -> T:
        """`make()`'s result the first time `key` is asked for, the same result after: evidence a
        test reads, made by whichever comes first, a lane gathering it ahead or the test. A raise is
        not kept: the next asker meets it again. A key a lane `plan`ned is waited for by everyone
        else until the lane made it (or ended without it)."""
        planned = self._planned.get(key)
        if planned is not None and planned[0] != ahead_lane():
            planned[1].wait()
        try:
            return self._once(key, make)
        finally:
            if planned is not None and planned[0] == ahead_lane():
                planned[1].set()

    def plan(self, lane: str, keys: list[Any]) -> Callable[[], None]:
        """The `once` keys lane `lane` (gathering ahead) will make, in its order: a reader of one
        waits for the lane to make it rather than make it itself (the lane holds the key its requests
        need, so it would wait for the lane anyway, and could not start before it). Returns what the
        lane calls when it ends: whatever it did not make, its readers then make themselves."""
        made = {key: threading.Event() for key in keys}
        with self._guard:
            self._planned.update({key: (lane, event) for key, event in made.items()})

        def ended() -> None:
            for event in made.values():
                event.set()
        return ended

    def chain_ahead(self, api_key: str, lane: str, key: Any, make: Callable[[], object], *,
                    first: bool = False) -> None:
        """Queue `once(key, make)` on the lane that will drive `api_key` ahead (`start_chains`), after
        what is queued on it already: the evidence a key's rate-limit window orders (a burst, the wait
        it asks for, the request after it) stays in one lane, in the order the tests read it.
        `first`: before the calls queued already (a preparation the lane makes before it drives the
        key; once per key)."""
        calls = self._chains.setdefault(api_key, (lane, []))[1]
        if any(queued == key for queued, _ in calls):
            return
        calls.insert(0 if first else len(calls), (key, make))

    def start_chains(self) -> None:
        """Start one lane gathering ahead per queued key (`chain_ahead`): it holds the key (nobody else
        presents it meanwhile) and plans its `once` keys (their readers wait for the lane). A call that
        raises ends the lane; the readers of it and of the calls after it make their own."""
        chains, self._chains = self._chains, {}
        for api_key, (lane, calls) in chains.items():
            ended = self.plan(lane, [key for key, _ in calls])

            def run(stop: threading.Event, calls: list[tuple[Any, Callable[[], object]]] = calls,
                    ended: Callable[[], None] = ended) -> None:
                try:
                    for key, make in calls:
                        if stop.is_set():
                            return
                        self.once(key, make)
                finally:
                    ended()

            self.client.gather_ahead(lane, run, holds=(api_key,), only=(api_key,))

    def prefetch(self, names: list[str]) -> None:
        """Send the scenarios among `names` not sent yet side by side (`client.concurrency` at once),
        so the tests that read them find them there. A role whose code is provoked by a burst keeps
        its scenarios in one lane, in order (its rate-limit window), and the concurrency probe has a
        lane of its own (it holds sessions open); the rest are independent requests."""
        todo = [n for n in dict.fromkeys(names) if n in self.scenarios and not self.ran(n)]
        burst_roles = {c.role for c in self.profile.inference_codes() if c.trigger == "burst" and c.role}
        # The concurrency probe holds sessions of its role's key: a handshake with the same key
        # (a malformed agent id a gateway accepts anyway) waits for it, in its lane.
        probe_roles = {c.role for c in self.profile.codes if c.trigger == "realtime_concurrency" and c.role}
        agent_role = (self.config.section("realtime") or {}).get("role") or "valid"
        lanes: dict[str, list[str]] = {}
        for name in todo:
            scenario = self.scenarios[name]
            if scenario.kind == "realtime" and scenario.param != "agent_id":
                lane = f"realtime-probe:{scenario.role}"
            elif scenario.kind == "realtime" and agent_role in probe_roles:
                lane = f"realtime-probe:{agent_role}"
            elif scenario.role in burst_roles:
                lane = f"role:{scenario.role}"
            else:
                lane = name
            lanes.setdefault(lane, []).append(name)
        # The lanes that take several round trips (a burst, the probe) start first, so the single
        # requests fill the other workers beside them instead of waiting to start them.
        long_first = sorted(lanes, key=lambda lane: not lane.startswith(("role:", "realtime-probe:")))
        run_lanes([[self._quietly(n) for n in lanes[lane]] for lane in long_first], self.client.concurrency)

    def _quietly(self, name: str) -> Callable[[], object]:
        def call() -> object:
            try:
                return self.get(name)
            except ScenarioUnavailable:
                return None  # memoised: the test that reads it skips or is inconclusive with the reason
        return call

    def ran(self, name: str) -> bool:
        """Whether the scenario was already sent (or found unavailable) this session."""
        return name in self._results or name in self._failures

    def seen(self) -> list[Exchange]:
        return list(self._results.values())

    # --- helpers -----------------------------------------------------------------------------
    def role(self, name: str) -> dict[str, Any]:
        role = self.config.role(name)
        if role is None:
            raise ScenarioUnavailable(self.config.missing_role_reason(name))
        return role

    def model(self) -> str:
        return self.config.model or DEFAULT_MODEL

    def chat_body(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model(),
            "messages": [{"role": "user", "content": "Reply with OK."}],
            "max_tokens": 1,
        }
        body.update(overrides)
        return body

    def chat(self, api_key: str | None, *, label: str, **kwargs: Any) -> Exchange:
        body = kwargs.pop("json", None) or self.chat_body()
        return self.client.request("POST", CHAT, api_key=api_key, json=body, label=label, **kwargs)

    # --- runners -----------------------------------------------------------------------------
    def _run(self, scenario: Scenario) -> Exchange:
        if scenario.billable and not self.allow_billable:
            raise ScenarioUnavailable(billable_reason(f"scenario {scenario.name}"))
        runner: Callable[[Scenario], Exchange] = getattr(self, f"_run_{scenario.kind}")
        return runner(scenario)

    def _run_auth(self, s: Scenario) -> Exchange:
        label = f"scenario:{s.name}"
        if s.name == "no_credentials":
            return self.chat(None, label=label)
        if s.name == "unknown_key":
            return self.chat("sk-" + secrets.token_hex(24), label=label)
        if s.name == "malformed_key":
            return self.chat(None, authorization="Bearer not a valid key!", label=label)
        if s.name == "empty_bearer":
            return self.chat(None, authorization="Bearer", label=label)
        if s.name == "wrong_scheme":
            valid = self.config.role("valid")
            key = valid["api_key"] if valid else "sk-" + secrets.token_hex(24)
            self.client.redactor.add(key)
            return self.chat(None, authorization=f"{UNDEFINED_SCHEME} {key}", label=label)
        if s.name == "disabled_key":
            return self.chat(self.role("disabled")["api_key"], label=label)
        if s.name == "no_credentials_malformed_body":
            return self.client.request(
                "POST", CHAT, content=b'{"model": ', headers={"content-type": "application/json"}, label=label
            )
        raise AssertionError(f"unknown auth scenario {s.name}")

    def _run_role(self, s: Scenario) -> Exchange:
        code = self.profile.code(s.expect_code or "")
        assert code is not None and code.role is not None
        role = self.role(code.role)
        label = f"scenario:{s.name}"
        if code.trigger == "request":
            return self.chat(role["api_key"], label=label)
        if code.trigger == "forbidden_model":
            forbidden = role.get("forbidden_model")
            if not forbidden:
                raise ScenarioUnavailable(f"role '{code.role}' has no forbidden_model in the target config")
            return self.chat(role["api_key"], json=self.chat_body(model=forbidden), label=label)
        if code.trigger == "disallowed_origin":
            origin = role.get("disallowed_origin")
            if not origin:
                raise ScenarioUnavailable(f"role '{code.role}' has no disallowed_origin in the target config")
            return self.chat(role["api_key"], headers={"origin": origin}, label=label)
        if code.trigger == "burst":
            return self._burst(code, role, label)
        raise AssertionError(f"trigger {code.trigger} is not an inference-plane trigger")

    def _burst(self, code: Code, role: dict[str, Any], label: str) -> Exchange:
        burst = self.burst(role, label=label)
        self.burst_history[code.code] = burst.sent
        last = burst.last
        if burst.refused is None and not role.get("limit") and last.status is not None and last.status < 400:
            raise ScenarioInconclusive(unprovoked_burst_reason(str(code.role), burst.attempts))
        return last

    def burst(self, role: dict[str, Any], *, label: str, send: Callable[[], Exchange] | None = None,
              refused: Callable[[Exchange], bool] | None = None) -> Burst:
        """Send with the role's key until the gateway refuses (first 429, or no answer), bounded by
        `burst_attempts`. `send` and `refused` replace the plain chat request and the 429 test (a
        streaming burst is refused when a stream does not start)."""
        send = send or (lambda: self.chat(role["api_key"], label=label))
        refused = refused or (lambda e: e.status == 429 or e.status is None)
        burst = Burst(attempts=burst_attempts(role))
        for _ in range(burst.attempts):
            exchange = send()
            burst.sent.append(exchange)
            exchange.burst = len(burst.sent)  # its reproduce line repeats the request that often
            if refused(exchange):
                burst.refused = exchange
                break
        return burst

    def _run_path(self, s: Scenario) -> Exchange:
        key = self.role("valid")["api_key"]
        path = {"unknown_path": "/v1/does-not-exist", "doubled_v1": "/v1/v1/chat/completions",
                "missing_v1": MISSING_V1_STRICT if self.profile.v1_prefix_strict else MISSING_V1_LENIENT}[s.name]
        # The body has no messages, so no gateway can serve it: a routing test must not cost money
        # without --allow-billable (a gateway that routes the path anyway answers 400, not 404,
        # and still fails MAP-4).
        body = {"model": self.model()}
        return self.client.request("POST", path, api_key=key, json=body, label=f"scenario:{s.name}")

    def _run_params(self, s: Scenario) -> Exchange:
        key = self.role("valid")["api_key"]
        label = f"scenario:{s.name}"
        if s.name == "invalid_json":
            return self.client.request(
                "POST", CHAT, api_key=key, content=b'{"model": "x", "messages": [', label=label,
                headers={"content-type": "application/json"},
            )
        body = self.chat_body()
        if s.name == "missing_messages":
            body.pop("messages")
        elif s.name == "messages_not_a_list":
            body["messages"] = "Reply with OK."
        elif s.name == "temperature_out_of_range":
            body["temperature"] = 7
        elif s.name == "max_tokens_negative":
            body["max_tokens"] = -5
        elif s.name == "model_wrong_type":
            body["model"] = 12345
        else:
            raise AssertionError(f"unknown params scenario {s.name}")
        return self.client.request("POST", CHAT, api_key=key, json=body, label=label)

    def _run_realtime(self, s: Scenario) -> Exchange:
        from conformance.scenarios.realtime import run_realtime_scenario

        return run_realtime_scenario(self, s)


def burst_attempts(role: dict[str, Any]) -> int:
    """How many requests a burst may send to reach the first 429: the role's known limit plus
    headroom, or a fixed bound when the config does not say."""
    limit = role.get("limit")
    return int(limit) + BURST_HEADROOM if limit else BURST_UNKNOWN_LIMIT


def build_scenarios(profile: Profile) -> list[Scenario]:
    unauthorized = profile.unauthorized_code
    scenarios = [
        Scenario("no_credentials", "auth", 401, unauthorized, description="no Authorization header"),
        Scenario("unknown_key", "auth", 401, unauthorized, description="a well-formed key the gateway never issued"),
        Scenario("malformed_key", "auth", 401, unauthorized, description="a bearer token that is not a key"),
        Scenario("empty_bearer", "auth", 401, unauthorized, description="'Bearer' with no token"),
        Scenario("wrong_scheme", "auth", 401, unauthorized, description=f"the valid key sent with the {UNDEFINED_SCHEME} scheme, which no gateway defines"),
        Scenario("disabled_key", "auth", 401, unauthorized, role="disabled", description="a revoked key"),
        Scenario("no_credentials_malformed_body", "auth", 401, unauthorized,
                 description="no Authorization header and a body that is not JSON"),
    ]
    for code in profile.inference_codes():
        if code.trigger == "no_credentials" or code.role is None:
            continue
        scenarios.append(
            Scenario(code.code, "role", code.status, code.code, role=code.role, billable=code.trigger == "burst",
                     description=f"role '{code.role}' ({code.meaning})")
        )
    scenarios += [
        Scenario("unknown_path", "path", 404, role="valid", description="POST /v1/does-not-exist (a body without messages)"),
        Scenario("doubled_v1", "path", 404, role="valid", description="POST /v1/v1/chat/completions (a body without messages)"),
        # Where the contract makes a missing /v1 an unknown path (paths.v1_prefix_strict), the
        # chat route without it; elsewhere a gateway may serve that, so a path outside /v1 that
        # names no route either.
        Scenario("missing_v1", "path", 404, role="valid",
                 description="POST " + (MISSING_V1_STRICT if profile.v1_prefix_strict else MISSING_V1_LENIENT)
                  + " (a body without messages)"),
        Scenario("invalid_json", "params", 400, role="valid", description="a body that is not JSON"),
        Scenario("missing_messages", "params", 400, role="valid", param="messages", description="no messages"),
        # A lenient gateway may coerce, clamp or ignore these three and serve the request (billed):
        # sent only with --allow-billable. The other three cannot be served by any gateway.
        Scenario("messages_not_a_list", "params", 400, role="valid", param="messages", billable=True,
                 description="messages is a string"),
        Scenario("temperature_out_of_range", "params", 400, role="valid", param="temperature", billable=True,
                 description="temperature 7"),
        Scenario("max_tokens_negative", "params", 400, role="valid", param="max_tokens", billable=True,
                 description="max_tokens -5"),
        Scenario("model_wrong_type", "params", 400, role="valid", param="model", description="model is a number"),
    ]
    scenarios += realtime_scenarios(profile)
    return scenarios
