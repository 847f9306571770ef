"""CHG-5: a stream the client cuts off after its first events costs no more than it delivered.

The run's `GatewayClient` reads whole bodies (capped); a cut-off stream needs the opposite: read
until N server-sent events carried content, then close the connection. This sends through the
same client (budget, rate cap, redaction, evidence) so the cut request is a normal `Exchange`.
"""

from __future__ import annotations

import json as jsonlib
from typing import Any

import pytest

from conformance.billing.passes import Control, moved
from conformance.billing.oracle import BillingOracle, Reading, same_money
from conformance.contract.profiles import Profile
from conformance.outcomes import cite, inconclusive
from conformance.scenarios.inference import CHAT, ScenarioBook
from conformance.transport.client import Exchange, GatewayClient

# A stream whose full delivery took at least this long was still flowing when the client cut it
# after its first event, so the cut one must cost strictly less.
SPREAD_S = 0.25


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
    client.redactor.add(api_key)
    exchange = Exchange("POST", client.url(path), headers, jsonlib.dumps(json).encode(), label=label,
                        presented_credentials=(api_key,))
    return client.stream_until(exchange, lambda status, received: status >= 400 or content_events(received) >= after)


def cut_stream_overcharges(client: GatewayClient, oracle: BillingOracle, control: Control, book: ScenarioBook,
                           profile: Profile, valid: dict[str, Any]) -> list[str]:
    """Cut a stream after its first content event, run the same request to completion, and compare
    what the oracle says each cost. Inconclusive when no view can price both; skips when the
    gateway does not stream the request."""
    body = book.chat_body(max_tokens=16, stream=True,
                          messages=[{"role": "user", "content": "Count from one to twenty in words."}])
    key_id = valid.get("key_id")
    spend_view = next((v for v in control.spend_views()), None) if key_id else None
    by_id = "request_cost" in control.views
    if not by_id and spend_view is None:
        inconclusive("CHG-5 needs billing.request_cost or a key_id with a live spend view")
    readings: list[Reading] = []
    if not by_id:
        readings.append(oracle.snapshot([key_id], [spend_view])[(spend_view, key_id)])
    cut = cut_stream(client, CHAT, api_key=valid["api_key"], json=body, label="cut-stream")
    cite(cut)
    if cut.status != 200:
        pytest.skip(f"{cut.describe()}: the gateway did not stream this request, so there is no cut to bill")
    if not by_id:
        oracle.settle()
        readings.append(oracle.snapshot([key_id], [spend_view])[(spend_view, key_id)])
    full = client.request("POST", CHAT, api_key=valid["api_key"], json=body, label="full-stream")
    cite(full)
    if full.status != 200:
        return [f"{full.describe()}: the same stream run to completion was not served"]
    oracle.settle()
    if by_id:
        cut_cost = oracle.request_cost(cut.header(profile.request_id_header))
        full_cost = oracle.request_cost(full.header(profile.request_id_header))
    else:
        readings.append(oracle.snapshot([key_id], [spend_view])[(spend_view, key_id)])
        cut_cost = Reading(moved(spend_view, readings[0], readings[1]))
        full_cost = Reading(moved(spend_view, readings[1], readings[2]))
    if not (cut_cost.ok and full_cost.ok):
        inconclusive(f"the oracle could not price both streams: {cut_cost.reason or full_cost.reason}")
    cut_v, full_v = cut_cost.value or 0.0, full_cost.value or 0.0
    rid = cut.header(profile.request_id_header)
    if not (cut_v <= full_v or same_money(cut_v, full_v)):
        return [f"the stream cut after its first event (request id {rid}) cost {cut_v:g}, more than the same "
                f"request run to completion ({full_v:g})"]
    delivered_cut, delivered_full = content_events(cut.body), content_events(full.body)
    if delivered_full > delivered_cut and full.elapsed_s >= SPREAD_S and (cut_v >= full_v or same_money(cut_v, full_v)):
        return [f"the stream cut after {delivered_cut} of {delivered_full} content events (request id {rid}) cost "
                f"{cut_v:g}, as much as the full stream ({full_v:g}): it was billed for what it never delivered"]
    return []
