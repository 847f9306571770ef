"""A streamed request the client cuts off after the first events (CHG-5).

The run's `GatewayClient` reads whole bodies (capped); a cut-off stream needs the opposite: read
until N server-sent events carried content, then close the connection. This sends through the
same client (budget, rate cap, redaction, evidence) so the cut request is a normal `Exchange`.
"""

from __future__ import annotations

import json as jsonlib
import time
from typing import Any

import httpx

from conformance.transport.client import Exchange, GatewayClient


def content_events(body: bytes) -> int:
    """How many SSE `data:` events in `body` carried completion text."""
    count = 0
    for line in body.split(b"\n"):
        if not line.startswith(b"data:") or line.strip() == b"data: [DONE]":
            continue
        try:
            chunk = jsonlib.loads(line[5:])
        except ValueError:
            continue
        for choice in chunk.get("choices") or [] if isinstance(chunk, dict) else []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and delta.get("content"):
                count += 1
    return count


def cut_stream(client: GatewayClient, path: str, *, api_key: str, json: Any, after: int = 1,
               label: str = "cut-stream") -> Exchange:
    """POST a streaming request; close the connection once `after` content events arrived."""
    headers = {**client.default_headers, "authorization": f"Bearer {api_key}", "content-type": "application/json"}
    body = jsonlib.dumps(json).encode()
    client.redactor.add(api_key)
    exchange = Exchange("POST", client.url(path), headers, body, label=label, presented_credentials=(api_key,))
    client.budget.acquire()
    started = time.monotonic()
    timeout = httpx.Timeout(client.timeout_s, connect=min(client.timeout_s, 10.0))
    received = bytearray()
    try:
        request = client._http.build_request("POST", exchange.url, headers=headers, content=body, timeout=timeout)
        response = client._http.send(request, stream=True)
        try:
            exchange.status = response.status_code
            exchange.headers = response.headers
            for chunk in response.iter_raw():
                received += chunk
                if response.status_code >= 400 or content_events(bytes(received)) >= after:
                    break
                if time.monotonic() - started > client.timeout_s:
                    exchange.error = f"timed out after {client.timeout_s:g} s"
                    break
        finally:
            response.close()  # the cut: the connection goes away mid-stream
    except httpx.HTTPError as exc:
        exchange.error = f"{type(exc).__name__}: {exc}"
    exchange.body = bytes(received)
    exchange.elapsed_s = time.monotonic() - started
    client._record(exchange)
    return exchange
