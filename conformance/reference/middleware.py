"""The outermost layer of the reference gateway: request ids on every response, and a 500 envelope.

Pure ASGI (not `BaseHTTPMiddleware`) so it costs one closure per request and sees every response,
including the router's 404/405 and the oracle's answers (HDR-1 holds on "every response").
It also catches what escapes the app: Starlette's own last-resort handler answers `text/plain`,
which would break ENV-1, so an unhandled exception becomes the profile's 500 envelope here.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conformance.reference.defects import Defects
from conformance.reference.dialect import Dialect

log = logging.getLogger("conformance.reference")

STATIC_REQUEST_ID = "req_00000000000000000000000000000000"


def new_request_id(trace_form: bool = False) -> str:
    """`req_<hex>`; in trace-context form (the `trace_context_request_ids` variant) `<trace>/<span>;o=1`,
    as Google's X-Cloud-Trace-Context is: reserved URL characters a URL template must encode."""
    if trace_form:
        return f"{uuid.uuid4().hex}/{uuid.uuid4().int % 10**19};o=1"
    return "req_" + uuid.uuid4().hex


def request_id_of(scope: Scope) -> str:
    """The id the middleware gave this request (the one charges are recorded under)."""
    return scope["state"]["request_id"]


class RequestIds:
    """The request-id step: a new id per request, the id a response shows, and whether it shows one.

    The request-id defects live here, once: the middleware uses it for every HTTP response, and the
    realtime handshakes and the management plane's problem documents (written outside it) too.
    """

    def __init__(self, defects: Defects, trace_form: bool = False) -> None:
        self.trace_form = trace_form  # the `trace_context_request_ids` variant
        self.static = defects.on("static_request_id")
        self.none_on_errors = defects.on("no_request_id")

    def new(self) -> str:
        return new_request_id(self.trace_form)

    def shown(self, request_id: str) -> str:
        """The id the client sees for `request_id` (charges stay recorded under `request_id`)."""
        return STATIC_REQUEST_ID if self.static else request_id

    def sent_with(self, status: int) -> bool:
        """Whether a response with `status` carries the request-id header."""
        return not (self.none_on_errors and status >= 400)


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp, dialect: Dialect, ids: RequestIds) -> None:
        self.app = app
        self.ids = ids
        self.dialect = dialect
        self.header = dialect.profile.request_id_header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self.ids.new()
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        value = self.ids.shown(request_id).encode("latin-1")
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if self.ids.sent_with(message["status"]):
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != self.header]
                    headers.append((self.header, value))
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Logged for the operator (stderr), never put in the response (ENV-5).
            log.exception("unhandled error serving %s %s", scope.get("method"), scope.get("path"))
            if started:
                return  # headers are out; the server closes the connection
            response = self.dialect.response(
                500,
                self.dialect.open_code("server_error"),
                "The server had an error while processing your request.",
                headers={"Retry-After": "1"},  # 5xx is temporary: clients back off and retry
            )
            await response(scope, receive, send_with_id)
