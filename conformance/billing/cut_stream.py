"""CHG-5: a stream the client cuts off after its first event costs no more than it delivered,
within the documented tolerance below.

The run's `GatewayClient` reads whole bodies (capped); a cut-off stream needs the opposite: read
until N server-sent events carried content, then close the connection. This sends through the
same client (budget, rate cap, redaction, evidence) so the cut request is a normal `Exchange`.
"""

from __future__ import annotations

import json as jsonlib
import time
from dataclasses import dataclass
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


def delivered_events(exchange: Exchange) -> int:
    """Content events the gateway had delivered to this machine at the snapshot `stream_until`
    took: parsed, or already waiting in the client's buffers (a loaded client reads late)."""
    return content_events(exchange.delivered.body if exchange.delivered is not None else exchange.body)


@dataclass(frozen=True)
class Timing:
    """How the full stream came: `starting_s` from sending the request to reading its first content
    event, `flowing_s` from then to its end (both as this client saw them)."""

    starting_s: float
    flowing_s: float


def timed_stream(client: GatewayClient, path: str, *, api_key: str, json: Any,
                 label: str = "full-stream") -> tuple[Exchange, Timing | None]:
    """POST a streaming request and read it to the end → (the exchange, its `Timing`, or None
    without a content event). The exchange's `delivered` is what had already arrived when the first
    content event was read: everything there already is a gateway that sends the whole stream at
    once, however slowly a loaded client then reads it."""
    first_at: list[float] = []

    def first_content(status: int, received: bytes) -> bool:
        if not first_at and status < 400 and content_events(received) >= 1:
            first_at.append(time.monotonic())
            return True
        return False

    sent_at = time.monotonic()
    exchange = client.stream_until(_streamed_post(client, path, api_key, json, label),
                                   lambda status, received: False,  # never cut: read the whole stream
                                   mark=first_content)
    if not first_at:
        return exchange, None
    return exchange, Timing(first_at[0] - sent_at, time.monotonic() - first_at[0])


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


# The cut proves something only if the gateway was still sending when the client closed. Judged on
# the same stream run to completion, three ways, any of which makes CHG-5 inconclusive:
# * what had already arrived when its first content event was read (`timed_stream`): if all but
#   fewer than MIN_UNDELIVERED events were there, the gateway sends the stream at once. Load only
#   delays the client's read, so it can only find more already there.
# * how long it kept flowing after the first content event, against how long it took to start
#   (request to first content event): a gateway relaying an answer it already holds (its upstream
#   done) sends the rest at its own speed, in about the time it took to start, and bills usage
#   that was generated, if not yet delivered, when the client cut. A machine's load stretches both
#   times alike (LiteLLM, 2 cores, load ~17: 0.06-0.2 s flowing after 0.06-0.18 s starting, ratio
#   <= 2; the reference, paced by its generation: ratio >= 7). Under MIN_FLOWING_RATIO: inconclusive.
# * under MIN_FLOWING_S flowing at all: sent at once, even where a quick client read its first
#   event between two of the gateway's writes (microseconds apart).
MIN_FLOWING_S = 0.1
MIN_FLOWING_RATIO = 4.0


def cannot_judge(delivered: int, events_full: int, at_first: int, whole_at_first: bool,
                 timing: Timing | None) -> str | None:
    """Why a cut after `delivered` (of `events_full`) content events cannot show an overcharge, or
    None when it can. `at_first`, `whole_at_first`: what the full stream had delivered when its first
    content event was read, and whether its end was there too (see the rules above)."""
    if events_full - delivered < MIN_UNDELIVERED:
        return (f"the full stream carried {events_full} content events and the cut one had delivered {delivered} "
                f"(read, or waiting in the client's buffers, when it was cut): too few left undelivered "
                f"(< {MIN_UNDELIVERED}) to tell a cut from a whole")
    if events_full - at_first < MIN_UNDELIVERED or whole_at_first:
        return (f"the same stream run to completion had already delivered {at_first} of its {events_full} content "
                f"events when the client read the first: the gateway sends the stream at once, so a cut cannot show "
                f"usage that was not delivered")
    if timing is None or timing.flowing_s < MIN_FLOWING_S:
        return (f"the same stream run to completion sent all it had within {timing.flowing_s if timing else 0:.3f} s "
                f"of its first content event (< {MIN_FLOWING_S:g} s): a gateway that sends a stream that fast has "
                f"likely delivered all of it before a client's cut, so the cut cannot show usage that was not delivered")
    if timing.flowing_s < MIN_FLOWING_RATIO * timing.starting_s:
        return (f"the same stream run to completion kept sending for {timing.flowing_s:.3f} s after its first content "
                f"event, under {MIN_FLOWING_RATIO:g} times the {timing.starting_s:.3f} s it took to start: a gateway "
                f"that relays an answer it already holds sends it at its own speed, so a cut cannot show usage that "
                f"was not generated when the client closed")
    return None


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
        full, timing = cast("tuple[Exchange, Timing | None]", sent[0])
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
        full, timing = timed_stream(client, CHAT, api_key=valid["api_key"], json=_prompt(book, max_tokens=MAX_TOKENS))
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
    delivered, events_full = delivered_events(cut), content_events(full.body)
    reason = cannot_judge(delivered, events_full, delivered_events(full),
                          full.delivered is not None and full.delivered.whole, timing)
    if reason:
        inconclusive(reason)
    cut_v, full_v, one_v = cut_cost.value or 0.0, full_cost.value or 0.0, one_cost.value or 0.0
    limit = allowed_cost(delivered, events_full, full_v, one_v)
    if cut_v > limit and not same_money(cut_v, limit):
        rid = cut.header(profile.request_id_header)
        return [f"the stream cut after {delivered} of {events_full} content events had been delivered (request id "
                f"{rid}) cost {cut_v:g}; what it delivered is worth at most {limit:g} (prompt and first event {one_v:g}, the whole stream "
                f"{full_v:g}, tolerance {TOLERANCE_SHARE:.0%} of the undelivered events): it was billed for usage it "
                f"never delivered"]
    return []
