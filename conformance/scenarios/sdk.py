"""RTY-3's evidence: the official `openai` SDK called as a client would call it for one code.

The driving half of RTY-3 (the judging half is the pure `checks.sdk_retry`): pick the key, model
and headers that make the SDK's request meet the code, exhaust a rate limit first where the code
needs one, call once without retries to see the SDK's own decision on the answer, then once with
`max_retries=2` to count the attempts it really makes, unless it would wait longer than
`limits.retry_after_cap_s` (the suite never waits past the cap) or, for a code whose rule is to
wait for the reset, its decision already keeps away until then (no retry to count). What cannot be arranged here is a
`ScenarioUnavailable` with the reason.

`SdkCalls` makes the opening call of each code whose call depends on nothing before it once per
session, side by side with the others (`prefetch`, before the first RTY-3 test): the same request
a serial run sends, sent earlier. The test still judges only its own code's `SdkEvidence`.
"""

from __future__ import annotations

import functools
import secrets
import threading
from collections.abc import Iterable

from conformance.contract.profiles import Code
from conformance.contract.target_config import TargetConfig
from conformance.outcomes import billable_reason
from conformance.scenarios.inference import ScenarioBook
from conformance.scenarios.scenario import ScenarioUnavailable
from conformance.transport.client import Exchange, GatewayClient
from conformance.transport.gather import run_lanes
from conformance.transport.sdk import SdkEvidence, SdkOutcome, _openai, call_chat, sdk_decision, waits_for_reset


def sdk_request(code: Code, book: ScenarioBook, target_config: TargetConfig,
                billable_allowed: bool) -> tuple[str, str, dict[str, str] | None]:
    """(api_key, model, extra headers) that make the SDK's request produce `code`."""
    model = book.model()
    if code.trigger == "no_credentials":  # the SDK always sends a key: an unknown one gets the same code
        return "sk-" + secrets.token_hex(24), model, None
    if code.role is None:  # as for the targeted scenarios: no role in the profile, no key that meets the code
        raise ScenarioUnavailable(f"the profile names no role that provokes {code.code}")
    role = target_config.role(code.role)
    if role is None:
        raise ScenarioUnavailable(target_config.missing_role_reason(code.role))
    if code.trigger == "forbidden_model":
        if not role.get("forbidden_model"):
            raise ScenarioUnavailable(f"role '{code.role}' has no forbidden_model in the target config")
        return str(role["api_key"]), str(role["forbidden_model"]), None
    if code.trigger == "disallowed_origin":
        if not role.get("disallowed_origin"):
            raise ScenarioUnavailable(f"role '{code.role}' has no disallowed_origin in the target config")
        return str(role["api_key"]), model, {"origin": str(role["disallowed_origin"])}
    if code.trigger == "burst" and not billable_allowed:
        raise ScenarioUnavailable(billable_reason("driving a key into its rate limit"))
    return str(role["api_key"]), model, None


def opening_retries(code: Code) -> int | None:
    """max_retries of the SDK call that opens `code`'s evidence when that call depends on nothing
    before it (so the calls of several codes may go out side by side), else None: a code a burst
    provokes (its role's rate-limit window stays in order) or one judged on a realtime handshake."""
    if code.plane != "inference" or code.trigger == "burst":
        return None
    return 2 if code.retry in ("never", "unstated") else 0


class SdkCalls:
    """The opening SDK call of each code whose call depends on nothing before it, made once per
    session: `prefetch` makes those of the selected codes side by side, `drive_sdk` finds its call
    made (or makes it, the first time it is asked). Why once: the call is the same request whether
    it goes out at the session's start or in the test, and side by side it costs one round trip."""

    def __init__(self, client: GatewayClient) -> None:
        self.client = client
        self._outcomes: dict[tuple[str, int], SdkOutcome] = {}
        self._locks: dict[tuple[str, int], threading.Lock] = {}
        self._guard = threading.Lock()

    def opening(self, code: Code, api_key: str, model: str, headers: dict[str, str] | None,
                max_retries: int) -> SdkOutcome:
        """`code`'s opening call with `max_retries`, made at most once (a call being gathered right
        now is waited for, never made twice)."""
        key = (code.code, max_retries)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._outcomes:
                self._outcomes[key] = call_chat(self.client, api_key=api_key, model=model, max_retries=max_retries,
                                                headers=headers, label="sdk")
            return self._outcomes[key]

    def prefetch(self, codes: Iterable[Code], book: ScenarioBook, target_config: TargetConfig,
                 billable_allowed: bool) -> None:
        """Make the independent opening calls of `codes` side by side on the one client. A call whose
        request cannot be built here (a missing role or field) is left to its test, which skips with
        the reason; one that fails is made again by its test (`run_lanes` never raises)."""
        lanes = []
        for code in dict.fromkeys(codes):
            retries = opening_retries(code)
            if retries is None:
                continue
            try:
                api_key, model, headers = sdk_request(code, book, target_config, billable_allowed)
            except ScenarioUnavailable:
                continue
            lanes.append([functools.partial(self._gathered, code, api_key, model, headers, retries)])
        if lanes:
            _openai()  # imported once here, not by several threads at once
            run_lanes(lanes, self.client.concurrency)

    def _gathered(self, code: Code, api_key: str, model: str, headers: dict[str, str] | None,
                  max_retries: int) -> None:
        outcome = self.opening(code, api_key, model, headers, max_retries)
        if not outcome.attempts:  # nothing was answered (a transport error): the test makes it again
            with self._guard:
                self._outcomes.pop((code.code, max_retries), None)


# Bursts a code provoked by one may take before the SDK's opening call meets the refusal.
BURST_TRIES = 3


def _served(outcome: SdkOutcome) -> bool:
    answer = outcome.attempts[0] if outcome.attempts else None
    return answer is not None and answer.status is not None and answer.status < 400


def realtime_sdk_evidence(code: Code, handshake: Exchange, target_config: TargetConfig) -> SdkEvidence:
    """The SDK's decision on a recorded realtime handshake answer (its HTTP client cannot open a WebSocket)."""
    return SdkEvidence(code, target_config.limits.retry_after_cap_s, decision=sdk_decision(handshake),
                       handshake=handshake)


def drive_sdk(code: Code, client: GatewayClient, book: ScenarioBook, target_config: TargetConfig,
              billable_allowed: bool, calls: SdkCalls | None = None) -> SdkEvidence:
    """Call the SDK for an inference-plane `code` and keep every attempt (see `SdkEvidence`); its
    opening call, where it depends on nothing before it, is `calls`' (made once, maybe gathered)."""
    api_key, model, headers = sdk_request(code, book, target_config, billable_allowed)
    calls = calls or SdkCalls(client)

    def opening_call(max_retries: int) -> SdkOutcome:
        if opening_retries(code) == max_retries:
            return calls.opening(code, api_key, model, headers, max_retries)
        return call_chat(client, api_key=api_key, model=model, max_retries=max_retries, headers=headers, label="sdk")

    cap_s = target_config.limits.retry_after_cap_s
    role = target_config.role(code.role) if code.role else None

    def exhaust() -> bool:
        """Drive the key into its limit where a burst provokes the code → whether it was refused."""
        if code.trigger == "burst" and role is not None:
            return book.burst(role, label="sdk:exhaust").refused is not None
        return False

    if code.retry in ("never", "unstated"):  # one counted call: classification (and no retry, for never)
        counted = opening_call(2)
        return SdkEvidence(code, cap_s, counted=counted)
    for _ in range(BURST_TRIES):
        refused = exhaust()
        first = opening_call(0)
        if not (refused and _served(first)):
            break  # the refusal was met, or no burst refused (judged as it is)
        # The burst was refused, yet the key's window reset before the SDK's request (a slow round
        # trip, a busy machine): one more burst refuses it sooner, as ENV-6's streaming burst does.
    if not first.attempts or first.attempts[0].status != code.status:
        return SdkEvidence(code, cap_s, first=first)  # the code was not met again: nothing to decide on
    decision = sdk_decision(first.attempts[0])
    would_retry, wait = decision
    if would_retry and wait > cap_s:  # counting its retries would mean waiting past the cap
        return SdkEvidence(code, cap_s, first=first, decision=decision)
    if code.retry == "wait_reset" and waits_for_reset(first.attempts[0], decision):
        return SdkEvidence(code, cap_s, first=first, decision=decision)  # no retry before the reset to count
    exhaust()
    counted = call_chat(client, api_key=api_key, model=model, max_retries=2, headers=headers, label="sdk")
    return SdkEvidence(code, cap_s, first=first, decision=decision, counted=counted)
