"""Per-request cost of our client layer: GatewayClient vs a bare httpx.Client, same server, same requests.

The two loops alternate in rounds so a noisy neighbour slows both alike; the ratio of the medians
is what is reported.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from conformance.transport.client import GatewayClient, RequestBudget
from conformance.transport.redact import Redactor

CHAT = "/v1/chat/completions"


def _body(model: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "Reply with OK."}], "max_tokens": 1}


def measure(url: str, config: dict[str, Any], *, requests: int = 200, rounds: int = 5) -> dict[str, Any]:
    key = config["roles"]["valid"]["api_key"]
    model = config.get("model") or "gpt-4o-mini"
    body = _body(model)
    ours = GatewayClient(url, budget=RequestBudget(), redactor=Redactor([key]))
    bare = httpx.Client(base_url=url, trust_env=False, follow_redirects=False)
    headers = {"authorization": f"Bearer {key}"}
    ours_s: list[float] = []
    bare_s: list[float] = []
    try:
        for loop in (ours, bare):  # warm both connections
            _send(loop, body, headers, key)
        for _ in range(rounds):
            for loop, sink in ((ours, ours_s), (bare, bare_s)):
                started = time.perf_counter()
                for _ in range(requests):
                    _send(loop, body, headers, key)
                sink.append((time.perf_counter() - started) / requests)
    finally:
        ours.close()
        bare.close()
    ours_med, bare_med = statistics.median(ours_s), statistics.median(bare_s)
    return {
        "requests_per_round": requests,
        "rounds": rounds,
        "gateway_client_ms": round(ours_med * 1000, 3),
        "bare_httpx_ms": round(bare_med * 1000, 3),
        "ratio": round(ours_med / bare_med, 3),
    }


def _send(loop: Any, body: dict[str, Any], headers: dict[str, str], key: str) -> None:
    if isinstance(loop, GatewayClient):
        exchange = loop.request("POST", CHAT, api_key=key, json=body)
        loop.exchanges.clear()  # a run keeps its exchanges; a 1000-request loop must not grow memory here
        assert exchange.status == 200, exchange.describe()
    else:
        response = loop.post(CHAT, json=body, headers=headers)
        response.read()
        assert response.status_code == 200, response.status_code
