"""The reference gateway's management plane: console routes under `/api` that speak RFC 9457.

The pyai contract gives management routes a different error shape from inference routes:
`application/problem+json` with `type`, `title`, `status`, `detail`, `instance` and a
`request_id` member equal to the request-id header. A client that branches on the content type
must never meet the other plane's shape, so every error under `/api` (including unknown paths
and methods) is a problem document, and nothing under `/v1` ever is.

Routes (authenticated by any active API key, as a console session would be):
  GET  /api/keys/{key_id}  → the key's public facts, or 404 when it is not the caller's key
  POST /api/keys           → 201 with a new key's id; 400 when `name` is not a string
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from conformance.reference.middleware import request_id_of
from conformance.reference.provision import secret_key
from conformance.reference.types import Reject

if TYPE_CHECKING:
    from conformance.reference.app import Gateway

MANAGEMENT_PREFIX = "/api"
PROBLEM_TYPES = "https://reference.gateway-conformance.invalid/problems/"
_TITLES = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed", 413: "Content Too Large"}
MAX_BODY_BYTES = 65_536


class Problem(Exception):
    def __init__(self, status: int, slug: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail


def problem_response(gateway: Gateway, request: Request, problem: Problem) -> Response:
    """The RFC 9457 document for `problem`, shaped as the profile's management section asks."""
    if gateway.defects.on("management_errors_in_envelope"):
        return gateway.dialect.response(problem.status, gateway.dialect.open_code("not_found")
                                        if problem.status == 404 else None, problem.detail)
    request_id = gateway.request_ids.shown(request_id_of(request.scope))
    variants = gateway.variants
    body: dict[str, Any] = {
        "type": "about:blank" if variants.on("problem_about_blank") else PROBLEM_TYPES + problem.slug,
        "title": _TITLES.get(problem.status, "Error"),
        "status": 400 if gateway.defects.on("problem_status_mismatch") else problem.status,
        "detail": problem.detail,
        "instance": request.url.path if len(request.url.path) <= 200 else MANAGEMENT_PREFIX,
    }
    if gateway.defects.on("problem_status_as_string"):
        body["status"] = str(body["status"])  # a template that quotes every member
    if variants.on("problem_without_status"):
        del body["status"]
    if variants.on("extra_members"):
        body["errors"] = [{"detail": problem.detail, "pointer": "#/"}]  # an RFC 9457 §3.2 extension
    if variants.on("problem_request_id_own"):
        request_id = "trace_" + secrets.token_hex(8)  # the console's own id, not the header's
    if not gateway.defects.on("problem_without_request_id"):
        body["request_id"] = request_id
    content_type = (gateway.profile.management or {}).get("content_type", "application/problem+json")
    return Response(json.dumps(body).encode(), status_code=problem.status, media_type=content_type)


def _authenticate(gateway: Gateway, request: Request) -> Any:

    try:
        return gateway.auth.authenticate(request)
    except Reject:
        raise Problem(401, "unauthorized", "A valid API key is required for the management API.") from None


async def _json_body(request: Request) -> Any:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise Problem(413, "too-large", f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        return json.loads(body)
    except ValueError:
        raise Problem(400, "invalid-json", "The request body is not valid JSON.") from None


def management_routes(gateway: Gateway) -> list[BaseRoute]:
    """The `/api` routes, or none when the profile has no management plane."""
    if not gateway.profile.has_management:
        return []

    def route(handler: Any) -> Any:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except Problem as problem:
                return problem_response(gateway, request, problem)

        return run

    async def get_key(request: Request) -> Response:
        caller = _authenticate(gateway, request)
        key_id = request.path_params["key_id"]
        if key_id != caller.key_id:  # another tenant's key is indistinguishable from none
            raise Problem(404, "not-found", "No key with this id exists.")
        return _ok({"id": caller.key_id, "name": caller.label, "status": caller.status}, 200)

    async def create_key(request: Request) -> Response:
        caller = _authenticate(gateway, request)
        body = await _json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"].strip():
            raise Problem(400, "invalid-body", "The body must be an object with a non-empty string 'name'.")
        key_id = gateway.ledger.create_key(secret_key(), wallet_id=caller.wallet_id, label=body["name"][:100])
        return _ok({"id": key_id, "name": body["name"][:100]}, 201)

    async def unknown(request: Request) -> Response:
        _authenticate(gateway, request)
        raise Problem(404, "not-found", "There is no management route at this path.")

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return [
        Route(MANAGEMENT_PREFIX + "/keys/{key_id}", route(get_key), methods=["GET"]),
        Route(MANAGEMENT_PREFIX + "/keys", route(create_key), methods=["POST"]),
        Route(MANAGEMENT_PREFIX + "/{rest:path}", route(unknown), methods=methods),
    ]


def _ok(payload: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(payload).encode(), status_code=status, media_type="application/json")
