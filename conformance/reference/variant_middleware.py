"""Clean variants that live at the HTTP layer: how responses travel, and protocol-level refusals.

Two pure-ASGI layers. `TransportVariants` is the outermost: it only changes how a response is put
on the wire (gzip-encoded or chunked error bodies, `Connection: close`, the request-id header's
letter case), never what it says. `ProtocolStatuses` sits inside the request-id layer, so its
refusals carry a request id like every other response: 431 / 414 / 406 / 411 / 410 with the
profile's envelope and a null code, as an HTTP server in front of a gateway answers them.
"""

from __future__ import annotations

import gzip
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conformance.reference.dialect import Dialect
from conformance.reference.variants import Variants

MAX_HEADER_BYTES = 8 * 1024  # a single request header field larger than this → 431
MAX_URI_BYTES = 8 * 1024  # a request target larger than this → 414
RETIRED_PREFIXES = ("/v1/engines",)  # → 410 Gone
_ACCEPTABLE = ("application/json", "application/*", "*/*", "text/event-stream", "application/problem+json")


class TransportVariants:
    """`gzip_error_bodies`, `chunked_error_bodies`, `connection_close`, `request_id_header_case`."""

    def __init__(self, app: ASGIApp, variants: Variants, request_id_header: str) -> None:
        self.app = app
        self.gzip = variants.on("gzip_error_bodies")
        self.chunked = variants.on("chunked_error_bodies")
        self.close = variants.on("connection_close")
        self.header = request_id_header.lower().encode("latin-1")
        self.recase = variants.on("request_id_header_case")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        accepts_gzip = any(k == b"accept-encoding" and b"gzip" in v.lower() for k, v in scope.get("headers", []))
        held: dict[str, Any] = {}

        async def send_varied(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if self.recase:  # same field, another letter case (RFC 9110 §5.1)
                    name = self.header.upper() if self.header.islower() else self.header.lower()
                    headers = [(name if k.lower() == self.header else k, v) for k, v in headers]
                if self.close:
                    headers = [(k, v) for k, v in headers if k.lower() != b"connection"] + [(b"connection", b"close")]
                error = message["status"] >= 400
                if error and self.chunked and not self.gzip:
                    headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
                message = {**message, "headers": headers}
                if error and self.gzip and accepts_gzip:
                    held["start"] = message
                    held["body"] = []
                    return
                await send(message)
                return
            if "start" in held and message["type"] == "http.response.body":
                held["body"].append(message.get("body", b""))
                if message.get("more_body"):
                    return
                data = gzip.compress(b"".join(held["body"]))
                start = held.pop("start")
                headers = [(k, v) for k, v in start["headers"] if k.lower() not in (b"content-length", b"content-encoding")]
                headers += [(b"content-encoding", b"gzip"), (b"vary", b"Accept-Encoding")]
                if not self.chunked:
                    headers.append((b"content-length", str(len(data)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": data, "more_body": False})
                return
            await send(message)

        await self.app(scope, receive, send_varied)


class ProtocolStatuses:
    """The `protocol_statuses` variant: 431, 414, 406, 411 and 410 before the application runs."""

    def __init__(self, app: ASGIApp, dialect: Dialect) -> None:
        self.app = app
        self.dialect = dialect

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        headers = scope.get("headers", [])
        if any(len(k) + len(v) > MAX_HEADER_BYTES for k, v in headers):
            return 431, "A request header field is too large."
        target = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
        if len(target) > MAX_URI_BYTES:
            return 414, "The request URI is too long."
        accept = [v.decode("latin-1").lower() for k, v in headers if k == b"accept"]
        if accept and not any(kind in value for value in accept for kind in _ACCEPTABLE):
            return 406, "This API only answers application/json or text/event-stream."
        names = {k.lower() for k, _ in headers}
        if scope.get("method") in ("POST", "PUT", "PATCH") and b"transfer-encoding" in names and b"content-length" not in names:
            return 411, "A request body needs a Content-Length."
        if scope.get("path", "").startswith(RETIRED_PREFIXES):
            return 410, "This endpoint was retired; use /v1/completions."
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self.refusal(scope) if scope["type"] == "http" else None
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, message = refusal
        response = self.dialect.response(status, None, message, headers={"Connection": "close"} if status == 431 else None)
        await response(scope, receive, send)
