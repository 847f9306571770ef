"""The one SSE parser (`conformance.protocol.sse`): the WHATWG event stream interpretation as the
openai SDK applies it, and every reader of a stream (ENV-6, CHG-5's cut, UPS-7) reading the same
events from the same bytes."""

from __future__ import annotations

import json

import httpx
import pytest

from conformance.billing.cut_stream import content_events
from conformance.checks import sse as sse_checks
from conformance.contract.profiles import load_profile
from conformance.protocol.sse import EventParser, parse, parse_stream
from conformance.transport.client import Exchange

CHUNK = {"choices": [{"index": 0, "delta": {"content": "one"}}]}
ERROR = {"error": {"message": "the upstream died", "type": "server_error", "code": "server_error"}}


def _multiline(payload: object, end: str = "\n") -> str:
    return "".join(f"data: {line}{end}" for line in json.dumps(payload, indent=1).split("\n")) + end


STREAMS = {
    "lf": f"data: {json.dumps(CHUNK)}\n\ndata: [DONE]\n\n",
    "crlf": f"data: {json.dumps(CHUNK)}\r\n\r\ndata: [DONE]\r\n\r\n",
    "cr": f"data: {json.dumps(CHUNK)}\r\rdata: [DONE]\r\r",
    "multi-line data": _multiline(CHUNK) + "data: [DONE]\n\n",
    "multi-line crlf and comments": ": keep-alive\r\n" + _multiline(CHUNK, "\r\n") + ": ping\r\n\r\ndata: [DONE]\r\n\r\n",
    "event names and ids": f"event: message\nid: 7\ndata: {json.dumps(CHUNK)}\n\ndata: [DONE]\n\n",
    "no space after colon": f"data:{json.dumps(CHUNK)}\n\ndata:[DONE]\n\n",
}


@pytest.mark.parametrize("name", list(STREAMS))
def test_every_framing_reads_as_the_same_events(name: str) -> None:
    events, stray = parse(STREAMS[name])
    assert [e.json() for e in events[:-1]] == [CHUNK] and events[-1].done and not stray, events


@pytest.mark.parametrize("name", list(STREAMS))
def test_chunk_boundaries_change_nothing(name: str) -> None:
    """A CRLF pair or a UTF-8 sequence split across two reads is still one line end / one character."""
    raw = STREAMS[name].replace("one", "ünë").encode()
    whole = parse(raw)[0]
    for cut in range(1, len(raw)):
        parser = EventParser()
        events = parser.feed(raw[:cut]) + parser.feed(raw[cut:])
        parser.finish()
        assert events == whole, cut


def test_an_unterminated_final_event_is_discarded() -> None:
    parsed = parse_stream(f"data: {json.dumps(CHUNK)}\n\ndata: {json.dumps(ERROR)}\n")
    assert [e.json() for e in parsed.events] == [CHUNK]
    assert json.loads(parsed.unterminated or "") == ERROR


def test_an_event_without_data_dispatches_nothing() -> None:
    assert parse("event: ping\n\n: comment\n\n")[0] == []


@pytest.mark.parametrize("name", [*list(STREAMS), "unterminated"])
def test_the_openai_sdk_reads_the_same_events(name: str) -> None:
    """The reference for "as a client reads it": the official SDK's own decoder."""
    streaming = pytest.importorskip("openai._streaming")
    raw = (STREAMS.get(name) or f"data: {json.dumps(CHUNK)}\n\ndata: {json.dumps(ERROR)}\n").encode()
    theirs = [s.data for s in streaming.SSEDecoder().iter_bytes(iter([raw]))]
    assert [e.data for e in parse(raw)[0]] == theirs


def test_the_cut_counts_multi_line_events() -> None:
    """CHG-5's cut: an event whose JSON spans several `data:` lines is one content event (was 0, so
    the stream was never cut and CHG-5 ended inconclusive)."""
    assert content_events(STREAMS["multi-line data"].encode()) == 1
    assert content_events(STREAMS["multi-line crlf and comments"].encode()) == 1
    assert content_events(_multiline(CHUNK).rstrip("\n").encode()) == 0  # not complete yet: not delivered


def _stream(text: str) -> Exchange:
    return Exchange("POST", "http://gw.test/v1/chat/completions", {}, None, status=200,
                    headers=httpx.Headers({"content-type": "text/event-stream"}), body=text.encode())


@pytest.mark.parametrize("profile_id", ["pyai", "mindproxy"])
def test_env6_an_unterminated_error_event_fails(profile_id: str) -> None:
    """A stream that ends on an error event with no blank line: no client sees the error."""
    profile = load_profile(profile_id)
    body = ERROR if profile_id == "pyai" else {"error": {"message": "the upstream died", "code": "server_error"}}
    text = f"data: {json.dumps(CHUNK)}\n\ndata: {json.dumps(body)}\n"
    problems = sse_checks.midstream_error_problems(_stream(text), profile)
    assert problems and "no blank line" in str(problems[0]), problems
    assert any("no blank line" in str(p) for p in sse_checks.stream_problems(_stream(text), profile))


def test_env6_multi_line_events_pass() -> None:
    profile = load_profile("pyai")
    assert sse_checks.stream_problems(_stream(STREAMS["multi-line crlf and comments"]), profile) == []


def test_env6_a_stream_ending_inside_an_event_did_not_end_normally() -> None:
    """Else the mid-stream case calls the cut 'ended normally' and turns inconclusive, not failed."""
    profile = load_profile("pyai")
    text = f"data: {json.dumps(CHUNK)}\n\ndata: {json.dumps(CHUNK)}\n\ndata: {json.dumps(ERROR)}\n"
    assert not sse_checks.ended_normally(_stream(text), profile)
    assert sse_checks.ended_normally(_stream(text + "\n"), profile) is False  # ends on the error: not normal
    assert sse_checks.ended_normally(_stream(STREAMS["multi-line data"]), profile)
