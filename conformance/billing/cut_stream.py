"""CHG-5: a stream the client cuts off after its first event costs no more than it delivered,
within the documented tolerance below.

The run's `GatewayClient` reads whole bodies (capped); a cut-off stream needs the opposite: read
until N server-sent events carried content, then close the connection. This sends through the
same client (budget, rate cap, redaction, evidence) so the cut request is a normal `Exchange`.
"""

from __future__ import annotations

import json as jsonlib
import time
from typing import Any, cast

import pytest

from conformance.billing.control import Control, moved
from conformance.billing.oracle import BillingOracle, Reading, same_money
from conformance.contract.profiles import Profile
from conformance.outcomes import cite, inconclusive
from conformance.protocol.sse import content_events
from conformance.scenarios.inference import CHAT, ScenarioBook
from conformance.transport.client import Exchange, GatewayClient
from conformance.transport.gather import side_by_side

# What "charged no more than the usage actually delivered" allows, made explicit:
#
# * The price of one content event and of the prompt come from the gateway itself: the same
#   request streamed to completion (N events, cost F) and streamed with max_tokens 1 (cost S), so
#   per event b = (F - S) / (N - 1) and the prompt plus the first event cost S.
# * A gateway "settles on real usage as best it can": the upstream may have generated tokens
#   after the client's cut before the gateway noticed, and events may have been in flight in
#   the socket when the client closed it. So a cut stream may be billed for the events it
#   delivered plus TOLERANCE_SHARE of the ones it never delivered. Only a charge beyond that
#   is a failure: with the default, a cut after 1 of 16 events may cost up to 1 + 8 events.
# * Too short a stream cannot tell a cut from a whole (fewer than MIN_UNDELIVERED events left
#   after the cut): inconclusive, never failed.
TOLERANCE_SHARE = 0.5
MIN_UNDELIVERED = 4
MAX_TOKENS = 16


def _streamed_post(client: GatewayClient, path: str, api_key: str, json: Any, label: str) -> Exchange:
    """The unsent exchange of a streaming POST with `api_key`, for `GatewayClient.stream_until`
    (the key joins the redactor first: the exchange is evidence like any other)."""
    headers = {**client.default_headers, "authorization": f"Bearer {api_key}", "content-type": "application/json"}
    client.redactor.add(api_key)
    return Exchange("POST", client.url(path), headers, jsonlib.dumps(json).encode(), label=label,
                    presented_credentials=(api_key,))


def cut_stream(client: GatewayClient, path: str, *, api_key: str, json: Any, after: int = 1,
               label: str = "cut-stream") -> Exchange:
    """POST a streaming request; close the connection once `after` content events arrived."""
    exchange = _streamed_post(client, path, api_key, json, label)
    return client.stream_until(exchange, lambda status, received: status >= 400 or content_events(received) >= after)


def timed_stream(client: GatewayClient, path: str, *, api_key: str, json: Any,
                 label: str = "full-stream") -> tuple[Exchange, float | None]:
    """POST a streaming request and read it to the end → (the exchange, how long the gateway kept
    sending after the first content event, or None without one). That spread is the stream's own:
    a loaded client only stretches it, where comparing two requests' wall times made a loaded
    machine look like a gateway that sends the whole stream at once."""
    first_at: list[float] = []

    def watch(status: int, received: bytes) -> bool:
        if not first_at and status < 400 and content_events(received) >= 1:
            first_at.append(time.monotonic())
        return False  # never cut: read the whole stream

    exchange = client.stream_until(_streamed_post(client, path, api_key, json, label), watch)
    return exchange, (time.monotonic() - first_at[0]) if first_at else None


def _prompt(book: ScenarioBook, **overrides: Any) -> dict[str, Any]:
    return book.chat_body(stream=True, messages=[{"role": "user", "content": "Count from one to twenty in words."}],
                          **overrides)


def allowed_cost(delivered: int, events_full: int, cost_full: float, cost_one: float) -> float:
    """The most a stream cut after `delivered` of `events_full` content events may cost (see the
    module constants for why)."""
    per_event = max(0.0, (cost_full - cost_one) / (events_full - 1))
    undelivered = max(0, events_full - delivered)
    return cost_one + per_event * (max(delivered, 1) - 1 + TOLERANCE_SHARE * undelivered)


class _Pricer:
    """Prices one request at a time: by request id, or by the move of the key's spend view."""

    def __init__(self, oracle: BillingOracle, control: Control, profile: Profile, key_id: str | None) -> None:
        self.oracle, self.profile, self.key_id = oracle, profile, key_id
        self.by_id = "request_cost" in control.views
        self.view = next((v for v in control.spend_views()), None) if key_id else None
        self.last: Reading | None = None

    @property
    def usable(self) -> bool:
        return self.by_id or self.view is not None

    def start(self) -> None:
        if not self.by_id:
            self.last = self._read()

    def _read(self) -> Reading:
        assert self.view is not None and self.key_id is not None
        return self.oracle.snapshot([self.key_id], [self.view])[(self.view, self.key_id)]

    def by_request_id(self, exchange: Exchange) -> Reading:
        """The cost billing.request_cost shows for `exchange` (read when it has settled)."""
        return self.oracle.request_cost(exchange.header(self.profile.request_id_header))

    def cost(self, exchange: Exchange) -> Reading:
        """The cost of `exchange`, the request sent since the last call (settles first)."""
        self.oracle.settle()
        if self.by_id:
            return self.by_request_id(exchange)
        assert self.last is not None and self.view is not None
        now = self._read()
        delta = moved(self.view, self.last, now)
        self.last = now
        return Reading(delta) if delta is not None else Reading(None, now.reason or "the spend view did not answer")


def _one_token(client: GatewayClient, book: ScenarioBook, valid: dict[str, Any]) -> Exchange:
    """The same stream with max_tokens 1: the price of the prompt and the first event."""
    return client.request("POST", CHAT, api_key=valid["api_key"], json=_prompt(book, max_tokens=1),
                          label="one-token-stream")


# The cut proves something only if the gateway was still sending when the client closed: the same
# stream run to completion must keep sending for this long after its first content event (its own
# spread, measured on one request, so machine load cannot fake or hide it). A gateway that sends
# the whole stream at once has delivered it all, and may bill it all.
MIN_FLOWING_S = 0.1


def cut_stream_overcharges(client: GatewayClient, oracle: BillingOracle, control: Control, book: ScenarioBook,
                           profile: Profile, valid: dict[str, Any]) -> list[str]:
    """Cut a stream after its first content event and check it cost no more than what it
    delivered, within the documented tolerance. The prices come from the same request run to
    completion and run with max_tokens 1. Inconclusive when no view can price the three, or the
    stream is too short to tell; skips when the gateway does not stream the request."""
    pricer = _Pricer(oracle, control, profile, valid.get("key_id"))
    if not pricer.usable:
        inconclusive("CHG-5 needs billing.request_cost or a key_id with a live spend view")
    pricer.start()
    cut = cut_stream(client, CHAT, api_key=valid["api_key"], json=_prompt(book, max_tokens=MAX_TOKENS), label="cut-stream")
    cite(cut)
    if cut.status != 200:
        pytest.skip(f"{cut.describe()}: the gateway did not stream this request, so there is no cut to bill")
    if pricer.by_id:
        # Priced by request id, the three requests need no order among them: the whole stream and the
        # one-token one go side by side once the cut showed the gateway streams, and the three costs
        # are read side by side after one settle.
        sent = side_by_side([lambda: timed_stream(client, CHAT, api_key=valid["api_key"],
                                                  json=_prompt(book, max_tokens=MAX_TOKENS)),
                             lambda: _one_token(client, book, valid)], client.concurrency)
        full, flowing_s = cast("tuple[Exchange, float | None]", sent[0])
        one = cast(Exchange, sent[1])
        cite(full, one)
        if full.status != 200:
            return [f"{full.describe()}: the same stream run to completion was not served"]
        if one.status != 200:
            return [f"{one.describe()}: the same stream with max_tokens 1 was not served"]
        oracle.settle()
        cut_cost, full_cost, one_cost = side_by_side(
            [lambda: pricer.by_request_id(cut), lambda: pricer.by_request_id(full), lambda: pricer.by_request_id(one)],
            client.concurrency)
    else:
        cut_cost = pricer.cost(cut)
        full, flowing_s = timed_stream(client, CHAT, api_key=valid["api_key"], json=_prompt(book, max_tokens=MAX_TOKENS))
        cite(full)
        if full.status != 200:
            return [f"{full.describe()}: the same stream run to completion was not served"]
        full_cost = pricer.cost(full)
        one = _one_token(client, book, valid)
        cite(one)
        if one.status != 200:
            return [f"{one.describe()}: the same stream with max_tokens 1 was not served"]
        one_cost = pricer.cost(one)
    if not (cut_cost.ok and full_cost.ok and one_cost.ok):
        inconclusive("the oracle could not price the three streams: "
                     + (cut_cost.reason or full_cost.reason or one_cost.reason))
    delivered, events_full = content_events(cut.body), content_events(full.body)
    if events_full - delivered < MIN_UNDELIVERED:
        inconclusive(f"the full stream carried {events_full} content events and the cut one {delivered}: too few "
                     f"left undelivered (< {MIN_UNDELIVERED}) to tell a cut from a whole")
    if flowing_s is None or flowing_s < MIN_FLOWING_S:
        inconclusive(f"the same stream run to completion sent all it had within {flowing_s or 0:.3f} s of its first "
                     f"content event (< {MIN_FLOWING_S:g} s): a gateway that sends a stream that fast has likely "
                     f"delivered all of it before a client's cut, so the cut cannot show usage that was not delivered")
    cut_v, full_v, one_v = cut_cost.value or 0.0, full_cost.value or 0.0, one_cost.value or 0.0
    limit = allowed_cost(delivered, events_full, full_v, one_v)
    if cut_v > limit and not same_money(cut_v, limit):
        rid = cut.header(profile.request_id_header)
        return [f"the stream cut after {delivered} of {events_full} content events (request id {rid}) cost {cut_v:g}; "
                f"what it delivered is worth at most {limit:g} (prompt and first event {one_v:g}, the whole stream "
                f"{full_v:g}, tolerance {TOLERANCE_SHARE:.0%} of the undelivered events): it was billed for usage it "
                f"never delivered"]
    return []
