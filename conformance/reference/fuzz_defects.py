"""The reference gateway's fuzzing defects: what real gateways do with inputs nobody planned for.

Kept out of the pipeline (`app.py` and the body step call in at four points) because none of this is how
the gateway should behave; each function does nothing unless its defect is switched on.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

if TYPE_CHECKING:
    from conformance.reference.defects import Defects

LONG_HEADER = 4096
HANG_MAX_S = 120.0
NESTING_LIMIT = 32

_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/gateway/handlers/chat.py", line 88, in create\n'
    "    payload = json.loads(raw)\n"
    "json.decoder.JSONDecodeError: {error}\n"
)
_HTML_415 = "<html><head><title>415 Unsupported Media Type</title></head><body><h1>Unsupported Media Type</h1></body></html>"


class DefectResponse(Exception):
    """A defect answers with something the envelope-building pipeline would never produce."""

    def __init__(self, response: Response) -> None:
        self.response = response


async def maybe_hang(defects: Defects, request: Request) -> None:
    """`hang_on_long_header`: a header over 4 KB stalls the request until the client gives up."""
    if not defects.on("hang_on_long_header"):
        return
    if not any(len(value) > LONG_HEADER for value in request.headers.values()):
        return
    deadline = time.monotonic() + HANG_MAX_S
    while time.monotonic() < deadline and not await request.is_disconnected():
        await asyncio.sleep(0.2)


async def maybe_stall_on_large_body(defects: Defects, request: Request) -> None:
    """`hang_on_large_body`: a body over the size limit is neither read nor answered (the server
    stops reading and waits for a client that is waiting for it)."""
    if not defects.on("hang_on_large_body"):
        return
    deadline = time.monotonic() + HANG_MAX_S
    while time.monotonic() < deadline and not await request.is_disconnected():
        await asyncio.sleep(0.2)


def check_content_type(defects: Defects, request: Request) -> None:
    """`html_415_for_wrong_content_type`: a web server's HTML page for a non-JSON content type."""
    if not defects.on("html_415_for_wrong_content_type"):
        return
    content_type = request.headers.get("content-type")
    if content_type is not None and content_type.split(";")[0].strip().lower() != "application/json":
        raise DefectResponse(HTMLResponse(_HTML_415, status_code=415))


def check_body(defects: Defects, raw: bytes) -> None:
    """`invalid_json_500_traceback` and `nested_body_500`: the body crashes the handler."""
    if defects.on("invalid_json_500_traceback"):
        try:
            json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise DefectResponse(PlainTextResponse(_TRACEBACK.format(error=str(exc)[:200]), status_code=500)) from None
    if defects.on("nested_body_500") and _depth(raw) > NESTING_LIMIT:
        raise RecursionError("maximum recursion depth exceeded while validating the request body")


def _depth(raw: bytes) -> int:
    """Bracket nesting depth outside strings, without parsing (the body may not parse)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest
