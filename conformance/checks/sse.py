"""Server-sent events as the suite reads them (ENV-6): parse a recorded stream, judge its shape.

The client reads a stream to its end (capped), so an SSE answer is an ordinary `Exchange` whose
body is the whole event stream. Parsing is `conformance.protocol.sse`, the one
parser every reader of a stream uses (the WHATWG rules as the openai SDK applies them).
"""

from __future__ import annotations

from conformance.checks.registry import check
from conformance.contract.profiles import Profile
from conformance.contract.schemas import describe, first_error
from conformance.protocol.sse import DONE, Event, parse, parse_stream
from conformance.transport.client import Exchange

__all__ = [
    "DONE",
    "EVENT_STREAM",
    "Event",
    "ended_normally",
    "is_error_event",
    "midstream_error_problems",
    "parse",
    "stream_problems",
]

EVENT_STREAM = "text/event-stream"


def _unterminated(where: str, data: str | None) -> list[str]:
    """A final event with no blank line after it: the SSE spec and the openai SDK discard it."""
    if data is None:
        return []
    return [f"{where}: the stream ends inside an event (no blank line after its data), which the SSE spec and the "
            f"openai SDK discard, so no client sees it: {data[:120]!r}"]


def is_error_event(event: Event, profile: Profile) -> bool:
    body = event.json()
    return isinstance(body, dict) and ("error" in body or event.event == "error")


@check("ENV-6")
def stream_problems(exchange: Exchange, profile: Profile) -> list[str]:
    """A success stream: 200 text/event-stream, JSON `data:` events; `[DONE]` last where the profile
    promises it (`streaming.done_sentinel`), and never before the end."""
    where = exchange.describe()
    if exchange.error:
        return [f"{where}: the stream broke off: {exchange.error}"]
    if exchange.status != 200 or exchange.content_type != EVENT_STREAM:
        return [f"{where}: expected 200 {EVENT_STREAM}, got {exchange.status} {exchange.content_type or '(none)'}"]
    parsed = parse_stream(exchange.body)
    events, stray = parsed.events, parsed.stray
    problems = [f"{where}: a line that is no SSE field: {line!r}" for line in stray[:2]]
    problems += _unterminated(where, None if exchange.truncated else parsed.unterminated)
    if not events:
        return [*problems, f"{where}: the event stream has no data events"]
    if profile.stream_done and events[-1].data != DONE:
        problems.append(f"{where}: the stream does not end with data: {DONE}")
    for event in events[:-1] if events[-1].data == DONE else events:
        if event.data == DONE:
            problems.append(f"{where}: data: {DONE} arrives before the end of the stream")
        elif event.json() is None:
            problems.append(f"{where}: event data is not JSON: {event.data[:80]!r}")
        elif is_error_event(event, profile):
            problems.append(f"{where}: a success stream carries an error event: {event.data[:120]!r}")
    return problems


def ended_normally(exchange: Exchange, profile: Profile) -> bool:
    """A 200 stream whose last payload event is an ordinary chunk (no error member): whatever was
    configured to fail mid-stream did not (the reply was shorter than the failure point)."""
    if exchange.error or exchange.status != 200 or exchange.content_type != EVENT_STREAM:
        return False
    parsed = parse_stream(exchange.body)
    payload = [e for e in parsed.events if e.data != DONE]
    if not payload or parsed.unterminated is not None:  # it ended inside an event: not normally
        return False
    last = payload[-1].json()
    return isinstance(last, dict) and "error" not in last and payload[-1].event != "error" and (
        "choices" in last or "usage" in last)


@check("ENV-6")
def midstream_error_problems(exchange: Exchange, profile: Profile) -> list[str]:
    """An error after the first event: an SSE event valid against the envelope, then a clean end."""
    where = exchange.describe()
    if exchange.error:
        return [f"{where}: the stream broke off instead of ending cleanly: {exchange.error}"]
    if exchange.status != 200 or exchange.content_type != EVENT_STREAM:
        return [f"{where}: expected the stream to start (200 {EVENT_STREAM}), got "
                f"{exchange.status} {exchange.content_type or '(none)'}"]
    parsed = parse_stream(exchange.body)
    events = parsed.events
    payload = [e for e in events if e.data != DONE]
    cut = _unterminated(where, None if exchange.truncated else parsed.unterminated)
    if cut:
        return cut
    if len(payload) < 2:
        return [f"{where}: expected at least one event and then an error event, got {len(payload)} event(s)"]
    last = payload[-1]
    body = last.json()
    if body is None:
        return [f"{where}: the last event (the error) is not JSON: {last.data[:80]!r}"]
    error = first_error(body, profile.envelope_schema)
    if error is not None:
        return [f"{where}: the error event does not match {profile.envelope_schema}: {describe(error)}"]
    if any(e.data == DONE for e in events[: events.index(last)]):
        return [f"{where}: data: {DONE} arrives before the error event"]
    return []
