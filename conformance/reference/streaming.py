"""The reference gateway's streaming errors (ENV-6): before the first event, and after it.

Before a stream starts the gateway still owns the status line, so a rejection is a normal JSON
error with its status. Once `200 text/event-stream` is out, the only way left to report a failure
is an SSE event whose data is the profile's envelope, after which the stream ends. The model
`MIDSTREAM_FAIL_MODEL` (named in the written target config as `streaming.midstream_error`) plays an
upstream that dies after its first chunk.

Two defects live here: `stream_prestart_error_as_sse` (a rejected `stream: true` request gets a
200 event stream carrying the error) and `midstream_error_not_enveloped` (the mid-stream error
event is a bare string, not the envelope).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from conformance.protocol import sse
from conformance.reference.provision import MIDSTREAM_FAIL_MODEL
from conformance.reference.types import Call

if TYPE_CHECKING:
    from conformance.reference.app import Gateway

UPSTREAM_FAILURE = "The upstream model stopped responding; the stream was cut off."
LATE_FAILURE_EVENTS = 4  # the `late_midstream_failure` variant: the role event and three tokens first


def _event(payload: Any) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return b"data: " + data.encode() + b"\n\n"


def _error_event(gateway: Gateway, status: int, code: str | None, message: str) -> bytes:
    if gateway.defects.on("midstream_error_not_enveloped"):
        return _event(f"error: {message}")
    event = _event(gateway.dialect.body(status, code, message))
    if gateway.defects.on("midstream_error_unterminated"):
        return event.removesuffix(b"\n")  # the stream ends right after the data line
    return gateway_framing(gateway, event)


def gateway_framing(gateway: Gateway, event: bytes) -> bytes:
    """The `sse_multiline_data` variant: the same event framed as the SSE spec also allows — a
    comment line first, its JSON pretty-printed over several `data:` lines (a client joins them
    with LF), CRLF line ends. `data: [DONE]` keeps its one line."""
    if not gateway.variants.on("sse_multiline_data"):
        return event
    events = sse.parse(event)[0]
    payload = events[0].json() if len(events) == 1 and not events[0].done else None
    if payload is None:
        return event.replace(b"\n", b"\r\n")
    lines = [b": gwc"] + [b"data: " + line.encode() for line in json.dumps(payload, indent=1).split("\n")]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def fails_midstream(call: Call) -> bool:
    return call.params["model"] == MIDSTREAM_FAIL_MODEL


def cut_after_first_event(gateway: Gateway, stream: StreamingResponse) -> StreamingResponse:
    """Let the first event through, stop the upstream (which charges what was delivered), then
    report the failure as an error event: the status line is long gone."""
    upstream = stream.body_iterator
    let_through = LATE_FAILURE_EVENTS if gateway.variants.on("late_midstream_failure") else 1

    async def body() -> AsyncIterator[Any]:
        sent = 0
        try:
            async for chunk in upstream:
                if isinstance(chunk, bytes) and chunk.startswith(b"data: [DONE]"):  # the reference streams bytes
                    yield chunk  # the upstream finished before it failed: a normal end
                    return
                yield chunk
                sent += 1
                if sent >= let_through:
                    break
            else:
                return
        finally:
            await upstream.aclose()  # type: ignore[attr-defined]  # typed AsyncIterable; _stream_chat's is a generator
        yield _error_event(gateway, 502, gateway.dialect.open_code("server_error"), UPSTREAM_FAILURE)

    stream.body_iterator = body()
    return stream


async def prestart_error_as_sse(request: Request, handle: Callable[[], Awaitable[Response]]) -> Response:
    """The `stream_prestart_error_as_sse` defect: commit to 200 SSE before the checks have run."""
    raw = await request.body()  # cached: the pipeline reads it again from the cache
    try:
        wants_stream = json.loads(raw).get("stream") is True
    except (ValueError, AttributeError):
        wants_stream = False
    response = await handle()
    if not wants_stream or response.status_code < 400 or not isinstance(response.body, bytes):
        return response
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-type", "content-length")}
    return Response(_event(json.loads(response.body)) + b"data: [DONE]\n\n", status_code=200,
                    media_type="text/event-stream", headers=headers)
