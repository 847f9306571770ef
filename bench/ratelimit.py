"""Requests needed to reach the first 429 with the `rate_limited` role, against its configured limit."""

from __future__ import annotations

from typing import Any

from conformance.transport.client import GatewayClient
from conformance.transport.redact import Redactor

CHAT = "/v1/chat/completions"
CAP = 200


def measure(url: str, config: dict[str, Any]) -> dict[str, Any]:
    role = (config.get("roles") or {}).get("rate_limited")
    if not role:
        return {"status": "skipped", "reason": "no rate_limited role"}
    limit = role.get("limit")
    body = {"model": config.get("model") or "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Reply with OK."}], "max_tokens": 1}
    client = GatewayClient(url, redactor=Redactor([role["api_key"]]))
    try:
        for sent in range(1, CAP + 1):
            exchange = client.request("POST", CHAT, api_key=role["api_key"], json=body)
            if exchange.status == 429:
                return {"limit": limit, "first_429_at": sent,
                        "within_goal": limit is not None and sent <= int(limit) + 1}
    finally:
        client.close()
    return {"limit": limit, "first_429_at": None, "within_goal": False, "reason": f"no 429 in {CAP} requests"}
