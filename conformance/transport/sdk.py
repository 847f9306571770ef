"""The official `openai` Python SDK pointed at the target, with every HTTP attempt counted (RTY-3).

Why the real SDK and not a model of it: what users meet is the SDK's own classification and retry
decision, which change between versions. The SDK gets our own `httpx.Client` whose event hooks
draw each attempt from the run's request budget and record it as an `Exchange` (redacted
evidence, like any other request), so "a don't-retry code costs exactly one request" is counted,
not assumed. For a response the SDK's HTTP client cannot fetch (a WebSocket handshake), the SDK's
own decision functions are applied to the recorded status and headers instead.
"""

from __future__ import annotations

import functools
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from conformance.contract.profiles import Code, Profile, resolve_pointer
from conformance.protocol.retry_after import wait_seconds
from conformance.quarantine import openai_retry_decision, own_openai_jitter
from conformance.transport.client import BudgetExhausted, Exchange, GatewayClient
from conformance.transport.deadline import CappedTransport

# The SDK draws its back-off jitter (0-25 % off a wait it computes) from the global `random`
# module. Its calls run on gathering lanes beside the fuzz tests, and hypothesis, while it draws,
# warns of any change another thread makes to that module's state (and could not replay a draw
# that met one). A generator of its own gives the SDK the same jitter and leaves the global one to
# hypothesis alone.
_JITTER = random.Random()


def _openai() -> Any:
    import openai

    own_openai_jitter(_JITTER.random)
    return openai


def warm() -> None:
    """Import the SDK and load what its first chat call would (its resources load lazily): made
    before a burst, not between the burst's refusal and the SDK call that must still meet it."""
    openai = _openai()
    sdk = openai.OpenAI(api_key="sk-warm", base_url="http://127.0.0.1:9/v1", max_retries=0)
    try:
        sdk.chat.completions  # noqa: B018 - the attribute access is the load
    finally:
        sdk.close()


@dataclass
class SdkOutcome:
    error: Exception | None
    attempts: list[Exchange] = field(default_factory=list)


@dataclass(frozen=True)
class SdkEvidence:
    """What the SDK did for one catalogued code (RTY-3), gathered by `scenarios.sdk` and judged by
    `checks.sdk_retry`: the scenario decides what to send, the check only reads this.

    `handshake`: a realtime answer the SDK's HTTP client cannot fetch, judged by its `decision`.
    `first`: one call with max_retries=0 (absent for never/unstated codes); `decision`: the SDK's
    (would it retry, seconds it would wait) on the first call's answer, when that answer carried
    the code's status; `counted`: one call with max_retries=2, every attempt counted (absent when
    the SDK would wait longer than `cap_s`, `limits.retry_after_cap_s`).
    """

    code: Code
    cap_s: float
    first: SdkOutcome | None = None
    decision: tuple[bool, float] | None = None
    counted: SdkOutcome | None = None
    handshake: Exchange | None = None

    def exchanges(self) -> list[Exchange]:
        """Every exchange this evidence rests on, to cite: a call made ahead of its test (gathered)
        is in no test's own exchanges, so the test cites these."""
        calls = [outcome.attempts for outcome in (self.first, self.counted) if outcome is not None]
        return [attempt for attempts in calls for attempt in attempts] + ([self.handshake] if self.handshake else [])


def expected_exception(status: int) -> type[Exception]:
    """The class the SDK raises for `status` (`_make_status_error`): 402 has none of its own."""
    openai = _openai()
    by_status: dict[int, type[Exception]] = {
        400: openai.BadRequestError, 401: openai.AuthenticationError, 403: openai.PermissionDeniedError,
        404: openai.NotFoundError, 409: openai.ConflictError, 422: openai.UnprocessableEntityError,
        429: openai.RateLimitError,
    }
    server_error: type[Exception] = openai.InternalServerError
    other: type[Exception] = openai.APIStatusError
    return server_error if status >= 500 else by_status.get(status, other)


def exposed_code(error: Any, profile: Profile) -> tuple[str, Any]:
    """(where, value): the SDK attribute that carries the profile's code field.

    The SDK sets `e.code`, `e.type`, `e.param` from the `error` object's members of those names,
    so a profile whose code lives at /error/code is read as `e.code`, one at /error/type (the
    mindproxy dialect) as `e.type`; any other pointer is read from `e.body` (the `error` object).
    """
    pointer = profile.code_pointer
    member = pointer.removeprefix("/error/")
    if pointer.startswith("/error/") and member in ("code", "type", "param"):
        return f"e.{member}", getattr(error, member, None)
    body = getattr(error, "body", None)
    found, value = resolve_pointer({"error": body}, pointer)
    return f"e.body{pointer.removeprefix('/error')}", value if found else None


def sdk_decision(exchange: Exchange) -> tuple[bool, float]:
    """The SDK's own answer for a recorded response: (would it retry, seconds it would wait)."""
    import httpx2  # the SDK's HTTP layer

    response = httpx2.Response(exchange.status or 0, headers=list(exchange.headers.multi_items()),
                               request=httpx2.Request("POST", "http://127.0.0.1:9/v1/x"))
    return openai_retry_decision(_deciding_sdk(), response)


def warm_deciding_sdk() -> None:
    """Build the deciding client now (`conformance.runner.warm`: once in a process that forks runs)."""
    _deciding_sdk()


@functools.lru_cache(maxsize=1)
def _deciding_sdk() -> Any:
    """One SDK client per process that only ever decides (it never sends: its base URL is a
    discard port): a client per decision built a TLS context each time (~0.1 CPU-s, 4 a run)."""
    return _openai().OpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1", max_retries=2)


# Retry-After is whole seconds and the SDK's wait is computed a moment later: a wait this much
# shorter than the Retry-After still waits for the reset.
RESET_SLACK_S = 1.0


def waits_for_reset(answer: Exchange, decision: tuple[bool, float]) -> bool:
    """Whether the SDK's decision on `answer` keeps away until the time the answer names: it does not
    retry, or it waits no less than the answer's Retry-After (retry-after-ms first, as the SDK reads)."""
    would_retry, wait = decision
    reset = wait_seconds(answer.header("retry-after"), answer.header("retry-after-ms"))
    return not would_retry or (reset is not None and wait + RESET_SLACK_S >= reset)


class _Stop(BaseException):
    """The budget refused an attempt: leave the SDK at once (it retries any `Exception`, sleeping first)."""


def call_chat(client: GatewayClient, *, api_key: str, model: str, max_retries: int,
              headers: dict[str, str] | None = None, label: str = "sdk") -> SdkOutcome:
    """One `chat.completions.create` through the SDK; returns what it raised and every attempt."""
    openai = _openai()
    outcome = SdkOutcome(None)
    exhausted: list[BudgetExhausted] = []
    pending: dict[int, tuple[Exchange, float]] = {}

    def on_request(request: httpx.Request) -> None:
        client.wait_for_keys((api_key,))
        try:
            client.budget.acquire()
        except BudgetExhausted as exc:
            exhausted.append(exc)
            raise _Stop from None  # not an Exception: the SDK would retry it, after its back-off
        exchange = Exchange(request.method, str(request.url), dict(request.headers), request.content or None,
                            label=label, presented_credentials=(api_key,))
        pending[id(request)] = (exchange, time.monotonic())

    def on_response(response: httpx.Response) -> None:
        response.read()
        exchange, started = pending.pop(id(response.request))
        exchange.status, exchange.headers, exchange.body = response.status_code, response.headers, response.content
        exchange.elapsed_s = time.monotonic() - started
        outcome.attempts.append(exchange)
        client.record(exchange)

    client.redactor.add(api_key)
    http = httpx.Client(event_hooks={"request": [on_request], "response": [on_response]}, trust_env=False,
                        follow_redirects=False, timeout=httpx.Timeout(client.timeout_s),
                        transport=CappedTransport(client.max_body_bytes, client.timeout_s))
    sdk = openai.OpenAI(api_key=api_key, base_url=client.base_url + "/v1", max_retries=max_retries,
                        http_client=http, default_headers=dict(client.default_headers))
    try:
        sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "Reply with OK."}],
                                    max_tokens=1, extra_headers=headers or None)
    except openai.APIError as exc:
        outcome.error = exc
    except _Stop:
        pass
    finally:
        sdk.close()
        http.close()
    if exhausted:
        raise exhausted[0]
    return outcome
