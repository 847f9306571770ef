"""The provider's ASGI application: an OpenAI-compatible upstream that plays the fault it is asked.

`POST /v1/chat/completions` (streaming or not) plays the fault its model names (`faults.parse`),
after recording the request; `GET /v1/models` lists the success model and every fault;
`GET /_provider/requests?since=N&marker=M` serves the request log; `GET /_provider/faults` the
catalogue. Anything the provider cannot use (a body that is not JSON, no model, an unknown fault,
an unknown path) is a 4xx with an OpenAI-shaped error saying what was wrong, never a crash.

Faults below HTTP (a connection reset, a cut body) need the connection itself: the outer ASGI
callable finds uvicorn's transport behind its `send` and hands it on in the scope.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import socket
import struct
import time
from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from conformance.provider.recorder import Recorder
from conformance.servers import fake_model, faults
from conformance.servers.request_params import ParamError, validate_chat

MAX_REQUEST_BYTES = 4_000_000
TRANSPORT = "gwc.transport"


def _error(status: int, message: str, type_: str, code: str | None = None, param: str | None = None,
           headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return Response(json.dumps(body).encode(), status_code=status, media_type="application/json", headers=headers)


def _json(payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")).encode(), media_type="application/json",
                    headers=headers)


def _request_id() -> dict[str, str]:
    return {"x-request-id": "req_provider_" + secrets.token_hex(8)}


async def _reset(request: Request, hard: bool = True) -> None:
    """Drop the connection now: `hard` is a TCP RST (SO_LINGER 0, abort: nothing flushed), otherwise a
    FIN after what was written (a body cut short: the reader sees an incomplete chunked body)."""
    transport = request.scope.get(TRANSPORT)
    if transport is None:
        raise RuntimeError("no transport to reset")
    if not hard:
        transport.close()
        await asyncio.sleep(0.01)
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()
    await asyncio.sleep(0.01)  # let uvicorn see the connection is gone (it then sends nothing more)


async def _disconnected(request: Request, within_s: float) -> bool:
    """Wait up to `within_s` for the client to go away (the body has been read already)."""

    async def wait() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(wait(), timeout=within_s)
    except asyncio.TimeoutError:
        return False
    return True


class Provider:
    """State of one provider: the expected key (None: any key), the log, the flaky fault's memory."""

    def __init__(self, api_key: str | None = None, recorder: Recorder | None = None) -> None:
        self.api_key = api_key
        self.recorder = recorder or Recorder()
        self._seen_bodies: set[str] = set()

    def auth_of(self, header: str | None) -> tuple[str, str]:
        """(verdict, token): verdict is none / expected / other (present when no key is configured)."""
        if not header:
            return "none", ""
        token = header.strip().partition(" ")[2].strip()
        if self.api_key is None:
            return "present", token
        return ("expected" if secrets.compare_digest(token.encode(), self.api_key.encode()) else "other"), token

    async def chat(self, request: Request) -> Response:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_REQUEST_BYTES:
            return _error(413, f"gwc provider: request body over {MAX_REQUEST_BYTES} bytes", "invalid_request_error",
                          "request_too_large")
        raw = await request.body()
        verdict, token = self.auth_of(request.headers.get("authorization"))
        model: str | None = None
        body: Any = None
        try:
            body = json.loads(raw)
        except ValueError:
            pass
        if isinstance(body, dict) and isinstance(body.get("model"), str):
            model = body["model"]
        stream = isinstance(body, dict) and body.get("stream") is True
        fault_name: str | None = None
        if model is not None:
            try:
                fault_name = faults.parse(model).name
            except faults.UnknownFault:
                fault_name = "unknown"
        record = self.recorder.add(method=request.method, path=request.url.path, headers=list(request.headers.items()),
                                   body=raw, model=model, fault=fault_name, stream=stream, auth=verdict)
        response = await self._play(request, body, model, verdict, token)
        if response is not None:
            record["outcome"] = response.status_code
        else:  # no answer: the fault dropped the connection, or the gateway gave up waiting first
            record["outcome"] = "reset" if record["fault"] == "reset" else "gateway_disconnected"
        return response if response is not None else Response(status_code=204)

    async def _play(self, request: Request, body: Any, model: str | None, verdict: str, token: str) -> Response | None:
        if not isinstance(body, dict):
            return _error(400, "gwc provider: the request body is not a JSON object", "invalid_request_error",
                          "invalid_json")
        if model is None:
            return _error(400, "gwc provider: 'model' is missing or not a string", "invalid_request_error",
                          "missing_model", "model")
        try:
            fault = faults.parse(model)
        except faults.UnknownFault as exc:
            return _error(400, f"gwc provider: {exc}", "invalid_request_error", "unknown_fault", "model")
        try:
            params = validate_chat(body)
        except ParamError as exc:
            return _error(400, f"gwc provider: {exc.message}", "invalid_request_error", "invalid_parameter", exc.param)
        where = request.url.netloc
        if verdict in ("none", "other") and fault.kind != "auth":
            shown = f" {token}" if token else ""
            return _error(401, f"Incorrect API key provided:{shown or ' (none)'}.", "invalid_request_error",
                          "invalid_api_key")
        return await self._fault(request, fault, params, body, where, token)

    async def _fault(self, request: Request, fault: faults.Fault, params: dict[str, Any], body: dict[str, Any],
                     where: str, token: str) -> Response | None:
        kind = fault.kind
        if kind == "error":
            return _error(fault.status, f"The upstream server {where} (node gpu-pool-7.internal:{where.rpartition(':')[2]}) "
                          "had an error while processing your request.", "server_error", None,
                          headers=_request_id())
        if kind == "error_empty":
            return Response(b"", status_code=fault.status, headers=_request_id())
        if kind == "rate_limited":
            return self._rate_limited(fault)
        if kind == "auth":
            if fault.status == 401:
                return _error(401, f"Incorrect API key provided: {token or '(none)'}. You can find your API key at "
                              f"https://{where}/account/api-keys.", "invalid_request_error", "invalid_api_key")
            return _error(403, f"The API key {token or '(none)'} does not have access to model "
                          f"{params['model']} on {where}.", "insufficient_permissions", "model_not_allowed")
        if kind == "reset":
            await _reset(request)
            return None
        if kind == "slow":
            if await _disconnected(request, fault.number):
                return None
            return self._ok(params)
        if kind == "cut":
            return await self._cut(request, params, int(fault.number))
        if kind == "malformed_sse" and params["stream"]:
            return self._malformed_sse(params)
        if kind in ("malformed_sse", "malformed_json"):
            return Response(b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"index": 0, "mess',
                            media_type="application/json", headers=_request_id())
        if kind == "oversized":
            payload = fake_model.chat_completion(params)
            payload["choices"][0]["message"]["content"] = "x" * faults.OVERSIZED_BYTES
            return _json(payload, _request_id())
        if kind == "flaky":
            digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
            if digest not in self._seen_bodies:
                self._seen_bodies.add(digest)
                return _error(503, "The upstream is overloaded; retry.", "server_error", None, headers=_request_id())
        return self._ok(params)

    def _rate_limited(self, fault: faults.Fault) -> Response:
        headers = _request_id()
        if fault.name == "429-date":
            headers["retry-after"] = formatdate(time.time() + faults.RETRY_AFTER_DATE_S, usegmt=True)
        elif fault.name == "429-long":
            headers["retry-after"] = str(faults.RETRY_AFTER_LONG_S)
        else:
            headers["retry-after"] = str(faults.RETRY_AFTER_S)
        if fault.name != "429-bare":
            headers.update({"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0",
                            "x-ratelimit-reset-requests": headers["retry-after"] if fault.name != "429-date"
                            else f"{faults.RETRY_AFTER_DATE_S}s"})
        return _error(429, "Rate limit reached for requests on the provider's organization.", "requests",
                      "rate_limit_exceeded", headers=headers)

    def _ok(self, params: dict[str, Any]) -> Response:
        if not params["stream"]:
            return _json(fake_model.chat_completion(params), _request_id())
        events = fake_model.chat_stream_events(params, "chatcmpl-" + secrets.token_hex(12), [0])

        async def body() -> AsyncIterator[bytes]:
            for event in events:
                yield event

        return StreamingResponse(body(), media_type="text/event-stream", headers=_request_id())

    def _malformed_sse(self, params: dict[str, Any]) -> Response:
        first = next(fake_model.chat_stream_events(params, "chatcmpl-" + secrets.token_hex(12), [0]))

        async def body() -> AsyncIterator[bytes]:
            yield first
            yield b'data: {"choices": [{"delta": {"content": "half\n\n'
            yield b"event: ???\nthis is not an SSE field\n\n"

        return StreamingResponse(body(), media_type="text/event-stream", headers=_request_id())

    async def _cut(self, request: Request, params: dict[str, Any], after: int) -> Response:
        """After `after` events (or half the JSON body), the connection is dropped mid-response."""
        if params["stream"]:
            events = fake_model.chat_stream_events(params, "chatcmpl-" + secrets.token_hex(12), [0])

            async def stream() -> AsyncIterator[bytes]:
                for position, event in enumerate(events):
                    if position >= after:
                        await _reset(request, hard=False)
                        return
                    yield event

            return StreamingResponse(stream(), media_type="text/event-stream", headers=_request_id())
        data = json.dumps(fake_model.chat_completion(params)).encode()

        async def half() -> AsyncIterator[bytes]:
            yield data[: len(data) // 2]
            await _reset(request, hard=False)

        return StreamingResponse(half(), media_type="application/json",
                                 headers={**_request_id(), "content-length": str(len(data))})

    # -- the other routes -------------------------------------------------------------------

    async def models(self, request: Request) -> Response:
        names = [faults.OK_MODEL, *(faults.FAULT_PREFIX + name for name in faults.CATALOGUE)]
        return _json({"object": "list", "data": [{"id": n, "object": "model", "created": 1700000000,
                                                  "owned_by": "gwc-provider"} for n in names]})

    async def requests(self, request: Request) -> Response:
        since = request.query_params.get("since", "0")
        if not since.isdigit():
            return _error(400, "gwc provider: 'since' must be a non-negative integer (a seq from an earlier answer)",
                          "invalid_request_error", "invalid_since", "since")
        marker = request.query_params.get("marker") or None
        records = self.recorder.since(int(since), marker)
        return _json({"requests": records, "last_seq": self.recorder.last_seq})

    async def catalogue(self, request: Request) -> Response:
        return _json({"prefix": faults.FAULT_PREFIX, "ok_model": faults.OK_MODEL, "faults": faults.CATALOGUE})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return _error(404, f"gwc provider: no route {request.method} {request.url.path[:100]}", "invalid_request_error",
                      "unknown_path")
    return _error(exc.status_code, f"gwc provider: {exc.detail}", "invalid_request_error", None,
                  headers=dict(exc.headers or {}))


class ProviderApp:
    """The ASGI callable uvicorn serves: notes the connection a request came on in its scope (the
    faults that cut it need the socket), then hands the request to the Starlette app.
    `.state.provider` holds the provider's state."""

    def __init__(self, inner: Starlette) -> None:
        self.inner = inner
        self.state = inner.state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope[TRANSPORT] = getattr(getattr(send, "__self__", None), "transport", None)
        await self.inner(scope, receive, send)


def create_app(api_key: str | None = None, recorder: Recorder | None = None) -> ProviderApp:
    """The provider as an ASGI callable; `.state.provider` holds its state."""
    provider = Provider(api_key, recorder)
    inner = Starlette(
        routes=[
            Route("/v1/chat/completions", provider.chat, methods=["POST"]),
            Route("/chat/completions", provider.chat, methods=["POST"]),
            Route("/v1/models", provider.models, methods=["GET"]),
            Route("/_provider/requests", provider.requests, methods=["GET"]),
            Route("/_provider/faults", provider.catalogue, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error},
    )
    inner.router.redirect_slashes = False
    inner.state.provider = provider
    return ProviderApp(inner)
