"""Provider mode: the reference gateway forwards the provider's models upstream, as real gateways do.

With `--provider URL` the gateway routes `gwc-ok` and `gwc-fault/*` to the fault-injecting
provider (`conformance.provider`); its own models (`ref-*`) it still answers itself. Everything a
gateway owns happens before forwarding, in the pipeline (auth, origin, IP, caps, rate limit,
params, model scope, credit): a rejected request never reaches the provider (UPS-5).

What comes back is translated, never relayed (UPS-1..4, 6..8):
  provider 2xx               → relayed answer, charged on the provider's usage
  provider 5xx / 4xx / reset / not JSON → 502 envelope, not charged
  provider 401 / 403 (our own key)      → 502: the client's key was fine (UPS-3)
  provider 429               → 503 with a Retry-After no shorter than the provider's (UPS-4)
  no first byte in time      → 504 envelope (UPS-8)
  stream cut / malformed     → an error event (the envelope) ends the stream; charged for what was
                               delivered (UPS-7)
Each `upstream_*` defect bends exactly one of these rows.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
from starlette.responses import Response, StreamingResponse

from conformance.protocol import sse
from conformance.protocol.retry_after import parse_retry_after
from conformance.reference import streaming
from conformance.servers import fake_model
from conformance.servers.faults import FAULT_PREFIX, OK_MODEL

if TYPE_CHECKING:
    from conformance.reference.app import Gateway
    from conformance.reference.types import Call

UPSTREAM_TIMEOUT_S = 2.0  # the gateway's own upstream timeout (the suite's is 10 s)
FAILED = "The upstream model provider failed to answer; retry later."
TIMED_OUT = "The upstream model provider did not answer in time; retry later."
BUSY = "The upstream model provider is busy; retry after the time in Retry-After."
CUT = "The upstream model provider stopped responding; the stream was cut off."
MAX_UPSTREAM_BYTES = 32 * 1024 * 1024


class UpstreamFailure(Exception):
    """The provider failed: the status to answer, the message, headers, and what the provider said."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None,
                 upstream_status: int | None = None, upstream_body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.upstream_status = upstream_status
        self.upstream_body = upstream_body


PROVIDER_FORBIDDEN_MODEL = "gwc-large"  # routed to the provider, forbidden to the restricted role (UPS-5)


def routes_upstream(model: str) -> bool:
    return model in (OK_MODEL, PROVIDER_FORBIDDEN_MODEL) or model.startswith(FAULT_PREFIX)


def _retry_after_s(value: str | None) -> int | None:
    """The provider's Retry-After in whole seconds (rounded up; capped at 2^31, RFC 9111 §1.2.2)."""
    wait = parse_retry_after(value) if value else None
    return None if wait is None else math.ceil(min(wait, 2**31))


class Upstream:
    """One provider: where it is, the gateway's key for it, and a shared async HTTP client."""

    def __init__(self, url: str, api_key: str | None, timeout_s: float = UPSTREAM_TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    def client(self, gateway: Gateway) -> httpx.AsyncClient:
        if self._client is None:
            read = None if gateway.defects.on("upstream_no_timeout") else self.timeout_s
            self._client = httpx.AsyncClient(trust_env=False, follow_redirects=False,
                                             timeout=httpx.Timeout(read, connect=self.timeout_s))
        return self._client

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def failure(self, gateway: Gateway, response: httpx.Response, body: bytes) -> UpstreamFailure:
        """The answer for a provider's non-2xx response."""
        status = response.status_code
        if status == 429:
            wait = _retry_after_s(response.headers.get("retry-after"))
            if gateway.defects.on("upstream_retry_after_dropped"):
                wait = 1
            return UpstreamFailure(503, BUSY, {"Retry-After": str(max(1, wait or 1))}, status, body)
        if status in (401, 403) and gateway.defects.on("upstream_auth_relayed"):
            return UpstreamFailure(401, "Invalid or missing API key.", upstream_status=status, upstream_body=body)
        if status in (401, 403) and gateway.defects.on("upstream_auth_as_403"):
            return UpstreamFailure(403, "This key is not allowed to use the requested model.", upstream_status=status,
                                   upstream_body=body)
        return UpstreamFailure(502, FAILED, upstream_status=status, upstream_body=body)

    async def post(self, gateway: Gateway, body: dict[str, Any]) -> tuple[httpx.Response, bytes]:
        """One non-streaming call; transport failures become `UpstreamFailure`."""
        try:
            response = await self.client(gateway).post(self.url + "/v1/chat/completions", json=body,
                                                       headers=self.headers())
        except httpx.TimeoutException:
            raise UpstreamFailure(504, TIMED_OUT) from None
        except httpx.HTTPError:
            raise UpstreamFailure(502, FAILED) from None
        return response, response.content

    async def chat(self, gateway: Gateway, call: Call, body: dict[str, Any]) -> Response:
        """Forward one chat completion; the pipeline turns an `UpstreamFailure` into the envelope."""
        if call.params["stream"]:
            return await self._stream(gateway, call, body)
        attempts = 2 if gateway.defects.on("upstream_retry_charges_each") else 1
        for attempt in range(1, attempts + 1):
            response, raw = await self.post(gateway, body)
            if response.status_code < 500 or attempt == attempts:
                break
        if response.status_code == 429 and gateway.defects.on("upstream_waits_retry_after"):
            # waits out the provider's Retry-After inside the client's request (30 s for its HTTP-date)
            await asyncio.sleep(_retry_after_s(response.headers.get("retry-after")) or 0)
        if response.status_code >= 300:
            failure = self.failure(gateway, response, raw)
            if gateway.defects.on("upstream_failure_billed"):
                gateway.billing.charge(call, call.params["prompt_tokens"] + 16)
            raise failure
        try:
            payload = json.loads(raw)
            total = int(payload["usage"]["total_tokens"])
        except (ValueError, KeyError, TypeError):
            raise UpstreamFailure(502, FAILED, upstream_status=response.status_code, upstream_body=raw[:2000]) from None
        gateway.billing.charge(call, total * attempt)  # `attempt` is 1 unless the retry defect is on
        return Response(raw, media_type="application/json", headers=self.served_headers(gateway))

    async def _stream(self, gateway: Gateway, call: Call, body: dict[str, Any]) -> Response:
        client = self.client(gateway)
        request = client.build_request("POST", self.url + "/v1/chat/completions", json=body, headers=self.headers())
        try:
            response = await client.send(request, stream=True)
        except httpx.TimeoutException:
            raise UpstreamFailure(504, TIMED_OUT) from None
        except httpx.HTTPError:
            raise UpstreamFailure(502, FAILED) from None
        if response.status_code != 200:
            try:
                raw = await response.aread()
            except httpx.HTTPError:
                raw = b""
            finally:
                await response.aclose()
            raise self.failure(gateway, response, raw)
        return StreamingResponse(self._relay(gateway, call, response), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", **self.served_headers(gateway)})

    def served_headers(self, gateway: Gateway) -> dict[str, str]:
        """Headers of a relayed success: under `upstream_address_on_success`, the provider's address, as
        LiteLLM's `x-litellm-model-api-base` does on every 200."""
        if gateway.defects.on("upstream_address_on_success"):
            return {"x-gateway-model-api-base": self.url}
        return {}

    async def _relay(self, gateway: Gateway, call: Call, response: httpx.Response) -> AsyncIterator[bytes]:
        """Relay complete events; a cut, a timeout or an event that is not JSON ends it with an error event."""
        delivered = 0
        done = False
        parser = sse.EventParser()
        try:
            try:
                async for chunk in response.aiter_raw():
                    for event in parser.feed(chunk):
                        tokens = _event_tokens(event)
                        if tokens is None or parser.stray:
                            raise ValueError("malformed event")
                        yield streaming.gateway_framing(gateway, event.encode())
                        if tokens < 0:
                            done = True
                            break
                        delivered += tokens
                    if done:
                        break
            except (httpx.HTTPError, ValueError):
                pass
            finally:
                await response.aclose()
            if not done and gateway.defects.on("upstream_cut_drops_connection"):
                raise ConnectionAbortedError("the provider cut the stream")  # the server aborts the response
            if not done and not gateway.defects.on("upstream_cut_without_error_event"):
                yield _error_event(gateway)
        finally:  # charged for what was delivered, also when the client cut the stream
            if not done and gateway.defects.on("upstream_cut_billed_in_full"):
                delivered = max(delivered, fake_model.completion_tokens(call.params) * call.params["n"])
            gateway.billing.charge(call, call.params["prompt_tokens"] + delivered)


def _event_tokens(event: sse.Event) -> int | None:
    """Completion tokens one SSE event carries (-1: the [DONE] event; None: not a valid event)."""
    if event.done:
        return -1
    chunk = event.json()
    if not isinstance(chunk, dict):
        return None
    return sum(1 for choice in chunk.get("choices") or []
               if isinstance(choice, dict) and isinstance(choice.get("delta"), dict) and choice["delta"].get("content"))


def _error_event(gateway: Gateway) -> bytes:
    body = gateway.dialect.body(502, gateway.dialect.open_code("server_error"), CUT)
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"
