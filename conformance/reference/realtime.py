"""The reference gateway's realtime plane: a WebSocket route whose refusals are HTTP answers.

A realtime gateway forwards `agent_id` upstream as a header value, so an id with control
characters (CR/LF above all: header injection) or longer than a header may be is refused with
400 `invalid_agent_id`; a key holding its limit of concurrent sessions gets 429
`concurrency_limit_exceeded` with Retry-After. Both are refused *before* the upgrade, as a plain
HTTP response to the handshake (the ASGI "websocket.http.response" extension, which uvicorn's
WebSocket protocols implement), so clients get the same envelope as on every other route.

Sessions are counted per key while their socket is open; the admin-only oracle route
`/_oracle/realtime/sessions` reports how many are open, so the self-tests can prove the suite
closes every session it opens.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from conformance.reference.ledger import KeyRecord
from conformance.reference.types import Reject

if TYPE_CHECKING:
    from conformance.reference.app import Gateway

REALTIME_PATH = "/v1/realtime"
MAX_AGENT_ID_CHARS = 256  # well inside any proxy's header-value limit
HEADER_VALUE_MAX_CHARS = 8000  # the `agent_id_8k_unconfigured` variant: what an 8 KiB header line holds


def agent_id_problem(agent_id: str | None, max_chars: int = MAX_AGENT_ID_CHARS) -> str | None:
    """Why `agent_id` cannot travel as a header value, or None when it can."""
    if not agent_id:
        return "agent_id is required."
    if len(agent_id) > max_chars:
        return f"agent_id is longer than {max_chars} characters."
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in agent_id):
        return "agent_id contains control characters."
    return None


def realtime_routes(gateway: Gateway) -> list[BaseRoute]:
    """The WebSocket route and its oracle; the sessions are the limits step's (`Limits.sessions`)."""
    sessions = gateway.limits.sessions

    async def endpoint(websocket: WebSocket) -> None:

        request_id = gateway.request_ids.shown(gateway.request_ids.new())  # no middleware sees a WebSocket
        key: KeyRecord | None = None
        try:
            key = gateway.auth.authenticate(websocket)
            gateway.auth.check_ip(websocket, key)
            check_agent_id(gateway, websocket)
            gateway.limits.open_session(key)
        except Reject as reject:
            gateway.billing.bill_rejection(websocket, key, reject, request_id)  # only under a charge_* defect
            await websocket.send_denial_response(_denial(gateway, reject, request_id))
            return
        try:
            await websocket.accept(headers=[(gateway.profile.request_id_header.lower().encode(), request_id.encode())])
            await websocket.send_text(json.dumps({"type": "session.created", "session": {"id": request_id}}))
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
        except (WebSocketDisconnect, asyncio.CancelledError, OSError):
            pass
        finally:
            sessions.close(key)

    async def open_sessions(request: Request) -> Response:

        try:
            gateway.auth.authenticate_admin(request)
        except Reject as reject:
            return gateway.rejections.render(reject)
        body = {"open": sessions.total, "opened_total": sessions.opened_total}
        return Response(json.dumps(body).encode(), media_type="application/json")

    return [
        WebSocketRoute(REALTIME_PATH, endpoint),
        Route("/_oracle/realtime/sessions", open_sessions, methods=["GET"]),
    ]


def check_agent_id(gateway: Gateway, websocket: WebSocket) -> None:
    """Refuse (before any upgrade) an agent_id that cannot travel upstream as a header value."""
    from conformance.reference.provision import AGENT_ID_MAX_CHARS

    agent_id = websocket.query_params.get("agent_id")
    limit = AGENT_ID_MAX_CHARS if gateway.variants.on("agent_ids_from_config") else MAX_AGENT_ID_CHARS
    if gateway.variants.on("agent_id_8k_unconfigured"):
        limit = HEADER_VALUE_MAX_CHARS
    problem = agent_id_problem(agent_id, limit)
    known = gateway.ledger.realtime_agents
    if problem is None and known is not None and agent_id not in known:
        raise gateway.rejections.bad_request("not_found", "No agent has this id.", status=404)
    if problem is not None and not gateway.defects.on("unchecked_agent_id"):
        code = next((c for c in gateway.profile.codes if c.trigger == "realtime_agent_id"), None)
        if code is None:  # a contract without the code: a plain bad parameter
            raise gateway.rejections.bad_request("invalid_parameter", f"Invalid agent_id: {problem}", "agent_id")
        raise Reject(code.status, code.code, f"Invalid agent_id: {problem}", "agent_id")


def _denial(gateway: Gateway, reject: Reject, request_id: str) -> Response:
    """The HTTP answer to a refused handshake: the profile's envelope plus the request-id header."""
    response = gateway.rejections.render(reject)
    if gateway.request_ids.sent_with(reject.status):
        response.headers[gateway.profile.request_id_header] = request_id
    return response

