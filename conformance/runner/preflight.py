"""One request before the suite runs: is the target an HTTP JSON API with the contract's route at all?

Pointed at the wrong thing — a static file server, a web app, a base URL with the wrong path
prefix — the suite would send hundreds of requests and fail a hundred requirements of a gateway
that is not there (2,324 lines of output against `python -m http.server`). That is a config
problem, so it stops the run up front in one line that names `--target`.

The signal is deliberately narrow, so a real gateway with bad errors is still tested and fails on
its own merits: an unauthenticated `POST /v1/chat/completions` must be answered by the gateway's
route (any 4xx it likes, HTML or not, is the suite's to judge). Only "no such route / method"
(404, 405, 501) with a body that is not JSON stops the run.
"""

from __future__ import annotations

from conformance.errors import ConformanceError

NO_ROUTE = (404, 405, 501)
PREFLIGHT_TIMEOUT_S = 4.0


def check_json_api(url: str, headers: dict[str, str] | None = None) -> None:
    from conformance.transport.client import GatewayClient

    client = GatewayClient(url, timeout_s=PREFLIGHT_TIMEOUT_S, headers=headers, max_body_bytes=65_536)
    try:
        exchange = client.request("POST", "/v1/chat/completions", json={}, label="preflight")
    finally:
        client.close()
    if exchange.status not in NO_ROUTE or exchange.json():
        return
    kind = exchange.content_type or "no content type"
    raise ConformanceError(
        f"target {client.base_url} is not an OpenAI-compatible JSON API: POST /v1/chat/completions answered "
        f"{exchange.status} ({kind}) — is --target the gateway's base URL?")
