"""The reference gateway's Starlette application: the request pipeline and the route tables.

Every inference request goes through the same steps, in the order a careful gateway takes them
(the order is part of the contract: MAP-6 wants credentials checked before the body is read):

  auth → publishable-key origin → IP allow-list → daily cap → rate limit → body (JSON, params)
  → model exists → model in key scope → billing (plan, credit, key budget) → serve and charge.

Each step is its own object, composed by `Gateway` (auth.py, limits.py, body.py, billing.py,
relay.py), and either passes or raises `Reject(condition…)`; the dialect step (rejections.py)
writes it in the profile's envelope. Each defect and variant lives in the one step it bends; only
`Gateway.handle` knows the order. Routes come from tables (`INFERENCE_ENDPOINTS`,
`oracle_routes`) so later planes (management, tasks, realtime) add tables, not branches.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from conformance.contract.profiles import Profile
from conformance.reference import fuzz_defects, streaming
from conformance.reference.auth import Authentication
from conformance.reference.billing import Billing
from conformance.reference.body import RequestBody
from conformance.reference.defects import Defects
from conformance.reference.dialect import Dialect
from conformance.reference.ledger import KeyRecord, Ledger
from conformance.reference.limits import DEFAULT_RATE_LIMIT, RATE_WINDOW_S, Limits
from conformance.reference.management import Problem, management_routes, problem_response
from conformance.reference.middleware import RequestIdMiddleware, RequestIds, request_id_of
from conformance.reference.provision import MODELS
from conformance.reference.realtime import realtime_routes
from conformance.reference.rejections import Rejections
from conformance.reference.relay import Relay
from conformance.reference.tasks import TaskBook, serve_task_create, task_routes, validate_task
from conformance.reference.types import Call, Endpoint, Reject
from conformance.reference.upstream import Upstream, UpstreamFailure
from conformance.reference.variant_middleware import ProtocolStatuses, TransportVariants
from conformance.reference.variants import Variants
from conformance.servers import fake_model
from conformance.servers.request_params import validate_chat, validate_completion, validate_embeddings

STREAM_PACE_S = 0.02  # between stream events, so a client that cuts a stream stops delivery (CHG-5)
# Under `bill_cutoff_stream_in_full`, slower on purpose (issue #21): CHG-5 judges a cut only when at
# least 4 of the 16 events were still unsent when the client closed, counting all that had reached
# its buffers. At 0.1 s a starved client may read its first event up to ~1.2 s late and the defect
# still shows; the stream lasts ~1.6 s, in that one kill-matrix cell only.
SLOW_STREAM_PACE_S = 0.1

# What a production nginx in front of a gateway answers for a path it does not route.
NGINX_404 = (
    "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
    "<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_SAFE_PATH_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_-")


def _describe_path(method: str, path: str) -> str:
    """`POST /v1/x` when the path is plain; user input that could look like anything is not echoed."""
    if 0 < len(path) <= 100 and set(path) <= _SAFE_PATH_CHARS:
        return f"{method} {path}"
    return method if method.isalpha() and len(method) <= 10 else "this request"


class Gateway:
    """One reference gateway for `profile`, with `defects` (and clean `variants`) switched on, billing
    into `ledger`; with `upstream`, the provider's models are forwarded there (provider mode).

    Each step is its own object with the defects and variants that belong to it: `auth` (key,
    origin, IP allow-list), `limits` (daily cap, rate window, realtime sessions), `body` (JSON and
    parameters), `billing` (credit check and ledger charges), `relay` (provider mode) and
    `rejections` (the dialect: how every refusal is written). Only `handle` knows their order.
    """

    def __init__(
        self,
        profile: Profile,
        defects: Defects,
        ledger: Ledger,
        *,
        models: Sequence[str] = MODELS,
        window_s: float = RATE_WINDOW_S,
        default_rate_limit: int = DEFAULT_RATE_LIMIT,
        upstream: Upstream | None = None,
        variants: Variants | None = None,
        daily_reset_at: datetime | None = None,
    ) -> None:
        self.profile = profile
        self.defects = defects
        self.variants: Variants = variants if variants is not None else Variants()
        self.ledger = ledger
        self.models = tuple(models)
        self.dialect = Dialect(profile, extra_members=self.variants.on("extra_members"))
        self.request_ids = RequestIds(defects, trace_form=self.variants.on("trace_context_request_ids"))
        self.rejections = Rejections(profile, self.dialect, defects, self.variants)
        self.auth = Authentication(self.rejections, ledger)
        self.limits = Limits(self.rejections, window_s=window_s, default_rate_limit=default_rate_limit,
                             daily_reset_at=daily_reset_at)
        self.body = RequestBody(self.rejections)
        self.billing = Billing(self.rejections, ledger)
        self.relay = Relay(self.rejections, upstream)
        self.tasks = TaskBook()

    def check_model(self, key: KeyRecord, model: str) -> None:
        """The model exists (here or at the provider) and is in the key's scope."""
        if model not in self.models and not self.relay.routed(model):
            raise Reject(404, self.dialect.open_code("unknown_model"), "The requested model does not exist.", "model")
        if key.allowed_models is not None and model not in key.allowed_models:
            raise self.rejections.reject("forbidden_model", "This key is not allowed to use the requested model.")

    async def handle(self, request: Request, endpoint: Endpoint) -> Response:
        """Run the pipeline for one inference request, in the order the module docstring gives."""
        limit_headers: dict[str, str] = {}
        await fuzz_defects.maybe_hang(self.defects, request)
        key: KeyRecord | None = None
        body: dict[str, Any] = {}
        try:
            early_body = None
            if endpoint.validate is not None and self.defects.on("body_before_auth"):  # the order itself
                early_body = await self.body.read_json(request)
            if self.relay.forwards_before_checks(endpoint):
                early_body = await self.body.read_json(request)
                await self.relay.forward_unchecked(self, early_body)
            key = self.auth.authenticate(request)
            limit_headers = self.limits.peek_headers(key)
            self.auth.check_origin(request, key)
            self.auth.check_ip(request, key)
            limit_headers = {}  # the 429s below carry their own
            self.limits.check_daily_cap(key)
            limit_headers = self.limits.rate_limit(key)
            params: dict[str, Any] = {}
            if endpoint.validate is not None:
                body = early_body if early_body is not None else await self.body.read_json(request)
                params = self.body.params(endpoint, body)
                self.check_model(key, params["model"])
            if endpoint.billable:
                self.billing.check(key)
            served = endpoint.serve(self, Call(key, request_id_of(request.scope), params, body))
            response = await served if inspect.isawaitable(served) else served
        except UpstreamFailure as failure:
            return self.relay.render_failure(failure)
        except Reject as reject:
            await self.relay.after_refusal(self, reject, body)
            self.billing.bill_rejection(request, key, reject)
            return self.rejections.render(reject, limit_headers)
        except fuzz_defects.DefectResponse as defect:
            return defect.response
        response.headers.update(limit_headers)
        return response


# -- serving steps (one per endpoint) ----------------------------------------------------------

def _json(payload: dict[str, Any]) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")).encode(), media_type="application/json")


def serve_chat(gateway: Gateway, call: Call) -> Any:
    if gateway.relay.routed(call.params["model"]):
        return gateway.relay.chat(gateway, call)  # a coroutine: `handle` awaits it
    if call.params["stream"] and streaming.fails_midstream(call):
        return streaming.cut_after_first_event(gateway, _stream_chat(gateway, call))
    if call.params["stream"]:
        return _stream_chat(gateway, call)
    payload = fake_model.chat_completion(call.params)
    gateway.billing.charge(call, payload["usage"]["total_tokens"])
    return _json(payload)


def _stream_chat(gateway: Gateway, call: Call) -> StreamingResponse:
    delivered = [0]
    events = fake_model.chat_stream_events(call.params, "chatcmpl-" + secrets.token_hex(12), delivered)
    no_done = gateway.variants.on("stream_without_done")
    pace = 0.0 if gateway.variants.on("stream_sent_at_once") else STREAM_PACE_S
    if pace and gateway.defects.on("bill_cutoff_stream_in_full"):
        pace = SLOW_STREAM_PACE_S
    settle = gateway.billing.stream_settlement(call, fake_model.completion_tokens(call.params) * call.params["n"])

    async def body() -> AsyncIterator[bytes]:
        try:
            for position, event in enumerate(events):
                if no_done and event.startswith(b"data: [DONE]"):
                    break
                if position:
                    await asyncio.sleep(pace)
                yield streaming.gateway_framing(gateway, event)
        finally:  # charged for what was delivered, also when the client cut the stream
            settle(delivered[0])

    return StreamingResponse(body(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def serve_completion(gateway: Gateway, call: Call) -> Response:
    payload = fake_model.text_completion(call.params)
    gateway.billing.charge(call, payload["usage"]["total_tokens"])
    return _json(payload)


def serve_embeddings(gateway: Gateway, call: Call) -> Response:
    payload = fake_model.embeddings(call.params)
    gateway.billing.charge(call, payload["usage"]["total_tokens"])
    return _json(payload)


def serve_models(gateway: Gateway, call: Call) -> Response:
    allowed = call.key.allowed_models
    models = tuple(m for m in gateway.models if allowed is None or m in allowed)
    return _json(fake_model.models_list(models))


TASK_ENDPOINT = Endpoint("POST", "/v1/tasks", validate_task, serve_task_create)

INFERENCE_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("POST", "/v1/chat/completions", validate_chat, serve_chat),
    Endpoint("POST", "/v1/completions", validate_completion, serve_completion),
    Endpoint("POST", "/v1/embeddings", validate_embeddings, serve_embeddings),
    Endpoint("GET", "/v1/models", None, serve_models, billable=False),
)


def inference_routes(gateway: Gateway) -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    endpoints = INFERENCE_ENDPOINTS + ((TASK_ENDPOINT,) if gateway.profile.has_tasks else ())
    for endpoint in endpoints:
        if endpoint.path == "/v1/models" and gateway.variants.on("no_models_endpoint"):
            continue
        paths = [endpoint.path]
        if endpoint.path == "/v1/chat/completions" and gateway.defects.on("doubled_v1_served"):
            paths.append("/v1/v1/chat/completions")  # a too-lenient rewrite rule
        if endpoint.path == "/v1/chat/completions" and gateway.variants.on("v1_prefix_optional"):
            paths.append("/chat/completions")
        handler = _bind(gateway, endpoint)
        routes.extend(Route(p, handler, methods=[endpoint.method]) for p in paths)
    return routes


def _bind(gateway: Gateway, endpoint: Endpoint) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        if gateway.defects.on("stream_prestart_error_as_sse"):
            return await streaming.prestart_error_as_sse(request, lambda: gateway.handle(request, endpoint))
        return await gateway.handle(request, endpoint)

    handler.__name__ = f"{endpoint.method.lower()}_{endpoint.path.strip('/').replace('/', '_')}"
    return handler


# -- billing oracle ---------------------------------------------------------------------------


def _path_segment(request: Request, prefix: str) -> str | None:
    """The one path segment after `prefix`, percent-decoded, as a console routing on raw segments reads
    it: None when the raw path has more segments (an id with an unencoded "/" names another resource)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    segment = raw.decode("latin-1").partition("?")[0].partition(prefix)[2]
    if not segment or "/" in segment:
        return None
    return unquote(segment)


def oracle_routes(gateway: Gateway) -> list[BaseRoute]:
    """What a console's usage API would offer: the charge for a request id, a key's spend/balance."""

    async def request_cost(request: Request) -> Response:
        try:
            gateway.auth.authenticate_admin(request)
            request_id = _path_segment(request, "/_oracle/requests/")
            charge = gateway.ledger.charge_for(request_id) if request_id is not None else None
            if charge is None:
                raise Reject(404, gateway.dialect.open_code("not_found"), "No charge is recorded for this request id.")
        except Reject as reject:
            return gateway.rejections.render(reject)
        return _json({"request_id": charge.request_id, "cost": charge.amount, "key_id": charge.key_id})

    async def key_account(request: Request) -> Response:
        try:
            gateway.auth.authenticate_admin(request)
            account = gateway.ledger.account(request.path_params["key_id"])
            if account is None:
                raise Reject(404, gateway.dialect.open_code("not_found"), "No key has this id.")
        except Reject as reject:
            return gateway.rejections.render(reject)
        if gateway.defects.on("spend_not_tracked"):
            account["spend"] = 0.0  # the usage roll-up never runs
        return _json(account)

    return [
        Route("/_oracle/requests/{request_id:path}", request_cost, methods=["GET"]),
        Route("/_oracle/keys/{key_id}", key_account, methods=["GET"]),
    ]


# -- router errors ----------------------------------------------------------------------------


def _http_exception_handler(gateway: Gateway) -> Callable[[Request, Exception], Any]:
    dialect = gateway.dialect

    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        where = _describe_path(request.method, request.url.path)
        if exc.status_code == 404:
            if gateway.defects.on("html_404"):
                return HTMLResponse(NGINX_404, status_code=404)
            if gateway.defects.on("problem_json_for_unknown_path"):  # the console's 404 handler, app-wide
                return problem_response(gateway, request, Problem(404, "not-found", f"Unknown path: {where}"))
            if gateway.defects.on("unknown_path_400"):  # a catch-all route that "validates" the path
                return dialect.response(400, dialect.open_code("invalid_parameter"), f"Invalid request: {where}")
            return dialect.response(404, dialect.open_code("unknown_path"), f"Unknown path: {where}")
        if exc.status_code == 405:
            return dialect.response(
                405, dialect.open_code("method_not_allowed"), f"Method not allowed: {where}", headers=dict(exc.headers or {})
            )
        kind = "server_error" if exc.status_code >= 500 else "invalid_parameter"
        return dialect.response(exc.status_code, dialect.open_code(kind), "The request could not be served.")

    return handle


def _middleware(gateway: Gateway) -> list[Middleware]:
    """Outermost first: transport variants, request ids, then the protocol-status variant."""
    layers = [Middleware(RequestIdMiddleware, dialect=gateway.dialect, ids=gateway.request_ids)]
    if gateway.variants.on("protocol_statuses"):
        layers.append(Middleware(ProtocolStatuses, dialect=gateway.dialect))
    if gateway.variants.active & {"gzip_error_bodies", "chunked_error_bodies", "connection_close", "request_id_header_case"}:
        layers.insert(0, Middleware(TransportVariants, variants=gateway.variants,
                                    request_id_header=gateway.profile.request_id_header))
    return layers


def create_app(gateway: Gateway) -> Starlette:
    """The Starlette application serving `gateway`: its routes, middleware and router errors."""
    routes = inference_routes(gateway) + oracle_routes(gateway) + realtime_routes(gateway) + management_routes(gateway)
    if gateway.profile.has_tasks:
        routes += task_routes(gateway)
    app = Starlette(
        routes=routes,
        middleware=_middleware(gateway),
        exception_handlers={HTTPException: _http_exception_handler(gateway)},
    )
    app.router.redirect_slashes = False  # `/v1/models/` is an unknown path (404), not a redirect
    app.state.gateway = gateway
    return app
