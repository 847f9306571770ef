"""The body step of the reference gateway: read the request body as JSON and validate its parameters.

Read only after authentication and the limits (MAP-6: credentials before the body), bounded at
`MAX_BODY_BYTES` whatever the Content-Length says. The fuzzing defects that crash or stall on a
body call in from here (`fuzz_defects`); the defect that leaks a traceback into the message
lives here; how the 400 is written is the dialect step's.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from conformance.reference import fuzz_defects
from conformance.reference.rejections import Step
from conformance.reference.types import Endpoint, Reject
from conformance.servers.request_params import ParamError

MAX_BODY_BYTES = 1_000_000
# The `stack_trace_in_message` defect: a framework's debug page leaking into the message.
_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/gateway/app.py", line 42, in create_completion\n'
    "    body = json.loads(await request.body())\n"
    '  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads\n'
    "    return _default_decoder.decode(s)\n"
    "json.decoder.JSONDecodeError: {error}"
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class RequestBody(Step):
    """The JSON object a request carries, and the endpoint's parameters read from it."""

    def _too_large(self) -> Reject:
        return self.rejections.bad_request("too_large", f"Request body is larger than {MAX_BODY_BYTES} bytes.",
                                           status=413)

    async def read_json(self, request: Request) -> dict[str, Any]:
        """The body as a JSON object; 413 past the size limit, 400 when it is not a JSON object."""
        fuzz_defects.check_content_type(self.defects, request)
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            await fuzz_defects.maybe_stall_on_large_body(self.defects, request)
            raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise self._too_large()
            chunks.append(chunk)
        fuzz_defects.check_body(self.defects, b"".join(chunks))
        try:
            body = json.loads(b"".join(chunks), parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            request.state.undecodable = isinstance(exc, UnicodeDecodeError)  # `charge_undecodable_body` reads it
            message = "The request body is not valid JSON."
            if self.defects.on("stack_trace_in_message"):
                message = _TRACEBACK.format(error=str(exc)[:200])
            raise self.rejections.bad_request("invalid_json", message) from None
        if not isinstance(body, dict):
            raise self.rejections.bad_request("invalid_json", "The request body must be a JSON object.")
        return body

    def params(self, endpoint: Endpoint, body: dict[str, Any]) -> dict[str, Any]:
        """`endpoint`'s parameters from `body`; a `ParamError` becomes the profile's 400."""
        assert endpoint.validate is not None
        try:
            return endpoint.validate(body)
        except ParamError as error:
            raise self.rejections.bad_param(error) from None
