"""The upstream relay step of the reference gateway (provider mode): what goes to the provider, and
how a provider's failure reaches the client.

`Upstream` (upstream.py) speaks HTTP to the provider; this step decides which models are routed
there, and turns an `UpstreamFailure` into the profile's envelope, never the provider's. The
defects of the relay (a body forwarded before the checks, a provider's error body or address
leaked, a plain-text 502) live here or in `Upstream`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from conformance.reference.rejections import Rejections, Step
from conformance.reference.types import Call, Endpoint, Reject
from conformance.reference.upstream import Upstream, UpstreamFailure, routes_upstream
from conformance.servers.faults import OK_MODEL

if TYPE_CHECKING:
    from conformance.reference.app import Gateway

CHAT_PATH = "/v1/chat/completions"


class Relay(Step):
    """The provider the gateway forwards to (None: no provider mode) and the relay's defects."""

    def __init__(self, rejections: Rejections, upstream: Upstream | None) -> None:
        super().__init__(rejections)
        self.upstream = upstream

    def routed(self, model: Any) -> bool:
        """Whether `model` is the provider's (forwarded), not one the gateway answers itself."""
        return self.upstream is not None and isinstance(model, str) and routes_upstream(model)

    def forwards_before_checks(self, endpoint: Endpoint) -> bool:
        """The `upstream_forward_before_checks` defect: the body goes upstream before any check ran."""
        return endpoint.path == CHAT_PATH and self.upstream is not None \
            and self.defects.on("upstream_forward_before_checks")

    async def forward_unchecked(self, gateway: Gateway, body: dict[str, Any]) -> None:
        """Send `body` upstream and drop the answer (the forwarding defects)."""
        if self.upstream is not None and self.routed(body.get("model")):
            try:
                await self.upstream.post(gateway, body)
            except UpstreamFailure:
                pass

    async def after_refusal(self, gateway: Gateway, reject: Reject, body: dict[str, Any]) -> None:
        """The `upstream_credit_checked_after_forward` defect: a 402 request was forwarded all the same."""
        if reject.status == 402 and body and self.defects.on("upstream_credit_checked_after_forward"):
            await self.forward_unchecked(gateway, body)

    async def chat(self, gateway: Gateway, call: Call) -> Response:
        """Forward one chat completion (`call.params["model"]` is routed upstream)."""
        assert self.upstream is not None
        body = call.body
        if self.variants.on("upstream_model_fixed"):  # every request goes upstream as the default model
            body = {**body, "model": OK_MODEL}
        return await self.upstream.chat(gateway, call, body)

    def render_failure(self, failure: UpstreamFailure) -> Response:
        """The client's answer for a provider failure: the profile's envelope, never the provider's."""
        if self.defects.on("upstream_failure_plain_text"):
            return Response(b"Bad Gateway", status_code=502, media_type="text/plain",
                            headers={"x-no-request-id": "1"})
        message = failure.message
        if self.defects.on("upstream_error_body_relayed") and failure.upstream_body:
            message = f"{message} Upstream said: {failure.upstream_body[:500].decode('utf-8', 'replace')}"
        if failure.status == 401:  # the `upstream_auth_relayed` defect: the client is told its key is bad
            reject = self.rejections.reject("unauthorized", message)
        elif failure.status == 403:  # the `upstream_auth_as_403` defect: told its key may not use the model
            reject = self.rejections.reject("forbidden_model", message)
        else:
            reject = Reject(failure.status, self.rejections.dialect.open_code("server_error"), message,
                            headers=failure.headers)
        headers = {"x-should-retry": "false"} if self.defects.on("upstream_5xx_should_not_retry") else {}
        if self.defects.on("upstream_address_in_header") and self.upstream is not None:
            headers["x-upstream"] = self.upstream.url.split("://", 1)[-1]
        return self.rejections.render(reject, headers or None)
