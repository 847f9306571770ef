"""Server-sent events as the suite reads them (ENV-6): parse a recorded stream, judge its shape.

The client reads a stream to its end (capped), so an SSE answer is an ordinary `Exchange` whose
body is the whole event stream. Parsing is `conformance.protocol.sse`, the one
parser every reader of a stream uses (the WHATWG rules as the openai SDK applies them).
"""

from __future__ import annotations

from conformance.checks.problem import Problem
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


def _unterminated(exchange: Exchange, data: str | None) -> list[Problem]:
    """A final event with no blank line after it: the SSE spec and the openai SDK discard it."""
    if data is None:
        return []
    return [Problem.at(exchange, "the stream ends inside an event (no blank line after its data), which the SSE spec "
                       f"and the openai SDK discard, so no client sees it: {data[:120]!r}",
                       title="stream ends inside an event")]


def is_error_event(event: Event, profile: Profile) -> bool:
    body = event.json()
    return isinstance(body, dict) and ("error" in body or event.event == "error")


@check("ENV-6")
def stream_problems(exchange: Exchange, profile: Profile) -> list[Problem]:
    """A success stream: 200 text/event-stream, JSON `data:` events; `[DONE]` last where the profile
    promises it (`streaming.done_sentinel`), and never before the end."""
    if exchange.error:
        return [Problem.at(exchange, f"the stream broke off: {exchange.error}", title="stream broke off")]
    if exchange.status != 200 or exchange.content_type != EVENT_STREAM:
        return [Problem.at(exchange, f"expected 200 {EVENT_STREAM}, got {exchange.status} "
                           f"{exchange.content_type or '(none)'}", title="not a 200 event stream")]
    parsed = parse_stream(exchange.body)
    events, stray = parsed.events, parsed.stray
    problems = [Problem.at(exchange, f"a line that is no SSE field: {line!r}",
                           title="a line that is no SSE field") for line in stray[:2]]
    problems += _unterminated(exchange, None if exchange.truncated else parsed.unterminated)
    if not events:
        return [*problems, Problem.at(exchange, "the event stream has no data events", title="no data events")]
    if profile.stream_done and events[-1].data != DONE:
        problems.append(Problem.at(exchange, f"the stream does not end with data: {DONE}",
                                   title="stream does not end with [DONE]"))
    for event in events[:-1] if events[-1].data == DONE else events:
        if event.data == DONE:
            problems.append(Problem.at(exchange, f"data: {DONE} arrives before the end of the stream",
                                       title="[DONE] before the end"))
        elif event.json() is None:
            problems.append(Problem.at(exchange, f"event data is not JSON: {event.data[:80]!r}",
                                       title="event data is not JSON"))
        elif is_error_event(event, profile):
            problems.append(Problem.at(exchange, f"a success stream carries an error event: {event.data[:120]!r}",
                                       title="error event in a success stream"))
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
def midstream_error_problems(exchange: Exchange, profile: Profile) -> list[Problem]:
    """An error after the first event: an SSE event valid against the envelope, then a clean end."""
    if exchange.error:
        return [Problem.at(exchange, f"the stream broke off instead of ending cleanly: {exchange.error}",
                           title="stream broke off")]
    if exchange.status != 200 or exchange.content_type != EVENT_STREAM:
        return [Problem.at(exchange, f"expected the stream to start (200 {EVENT_STREAM}), got "
                f"{exchange.status} {exchange.content_type or '(none)'}", title="stream did not start")]
    parsed = parse_stream(exchange.body)
    events = parsed.events
    payload = [e for e in events if e.data != DONE]
    cut = _unterminated(exchange, None if exchange.truncated else parsed.unterminated)
    if cut:
        return cut
    if len(payload) < 2:
        return [Problem.at(exchange, f"expected at least one event and then an error event, got {len(payload)} "
                           "event(s)", title="no event before the error event")]
    last = payload[-1]
    body = last.json()
    if body is None:
        return [Problem.at(exchange, f"the last event (the error) is not JSON: {last.data[:80]!r}",
                           title="error event is not JSON")]
    error = first_error(body, profile.envelope_schema)
    if error is not None:
        return [Problem.at(exchange, f"the error event does not match {profile.envelope_schema}: {describe(error)}",
                           title="error event does not match the envelope schema")]
    if any(e.data == DONE for e in events[: events.index(last)]):
        return [Problem.at(exchange, f"data: {DONE} arrives before the error event",
                           title="[DONE] before the error event")]
    return []
