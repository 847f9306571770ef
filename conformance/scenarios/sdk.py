"""RTY-3's evidence: the official `openai` SDK called as a client would call it for one code.

The driving half of RTY-3 (the judging half is the pure `checks.sdk_retry`): pick the key, model
and headers that make the SDK's request meet the code, exhaust a rate limit first where the code
needs one, call once without retries to see the SDK's own decision on the answer, then once with
`max_retries=2` to count the attempts it really makes, unless it would wait longer than
`limits.retry_after_cap_s` (the suite never waits past the cap) or, for a code whose rule is to
wait for the reset, its decision already keeps away until then (no retry to count). What cannot be arranged here is a
`ScenarioUnavailable` with the reason.
"""

from __future__ import annotations

import secrets

from conformance.contract.profiles import Code
from conformance.contract.target_config import TargetConfig
from conformance.scenarios.inference import ScenarioBook
from conformance.scenarios.scenario import ScenarioUnavailable
from conformance.transport.client import Exchange, GatewayClient
from conformance.transport.sdk import SdkEvidence, call_chat, sdk_decision, waits_for_reset


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
        raise ScenarioUnavailable("driving a key into its rate limit sends billable requests: pass --allow-billable")
    return str(role["api_key"]), model, None


def realtime_sdk_evidence(code: Code, handshake: Exchange, target_config: TargetConfig) -> SdkEvidence:
    """The SDK's decision on a recorded realtime handshake answer (its HTTP client cannot open a WebSocket)."""
    return SdkEvidence(code, target_config.limits.retry_after_cap_s, decision=sdk_decision(handshake),
                       handshake=handshake)


def drive_sdk(code: Code, client: GatewayClient, book: ScenarioBook, target_config: TargetConfig,
              billable_allowed: bool) -> SdkEvidence:
    """Call the SDK for an inference-plane `code` and keep every attempt (see `SdkEvidence`)."""
    api_key, model, headers = sdk_request(code, book, target_config, billable_allowed)
    cap_s = target_config.limits.retry_after_cap_s
    role = target_config.role(code.role) if code.role else None

    def exhaust() -> None:
        if code.trigger == "burst" and role is not None:
            book.burst(role, label="sdk:exhaust")

    if code.retry in ("never", "unstated"):  # one counted call: classification (and no retry, for never)
        counted = call_chat(client, api_key=api_key, model=model, max_retries=2, headers=headers, label="sdk")
        return SdkEvidence(code, cap_s, counted=counted)
    exhaust()
    first = call_chat(client, api_key=api_key, model=model, max_retries=0, headers=headers, label="sdk")
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
