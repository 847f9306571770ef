"""The reference gateway's Starlette application: the request pipeline and the route tables.

Every inference request goes through the same steps, in the order a careful gateway takes them
(the order is part of the contract: MAP-6 wants credentials checked before the body is read):

  auth → publishable-key origin → IP allow-list → daily cap → rate limit → body (JSON, params)
  → model exists → model in key scope → billing (plan, credit, key budget) → serve and charge.

Each step either passes or raises `Reject(condition…)`; `Dialect` turns it into the profile's
envelope. Defects bend exactly one step each, at the place that step lives. Routes come from
tables (`INFERENCE_ENDPOINTS`, `oracle_routes`) so later planes (management, tasks, realtime)
add tables, not branches.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import ipaddress
import json
import math
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.websockets import WebSocket

from conformance.contract.profiles import Profile
from conformance.protocol.http_date import DAYS, LONG_DAYS, MONTHS
from conformance.reference import fuzz_defects, streaming
from conformance.reference.defects import Defects
from conformance.reference.dialect import Dialect
from conformance.reference.ledger import KeyRecord, Ledger
from conformance.reference.management import Problem, management_routes, problem_response
from conformance.reference.middleware import RequestIdMiddleware, request_id_of
from conformance.reference.provision import MODELS
from conformance.reference.ratelimit import FixedWindowLimiter, WindowState
from conformance.reference.realtime import realtime_routes
from conformance.reference.tasks import TaskBook, serve_task_create, task_routes, validate_task
from conformance.reference.types import Call, Endpoint, Reject
from conformance.reference.upstream import Upstream, UpstreamFailure, routes_upstream
from conformance.reference.variant_middleware import ProtocolStatuses, TransportVariants
from conformance.reference.variants import Variants
from conformance.servers import fake_model
from conformance.servers.faults import OK_MODEL
from conformance.servers.request_params import ParamError, validate_chat, validate_completion, validate_embeddings

MAX_BODY_BYTES = 1_000_000
RATE_WINDOW_S = 1.0  # short: HDR-4 and the SDK wait a whole Retry-After, every run
DEFAULT_RATE_LIMIT = 100_000
RESET_PENALTY_S = 2  # the `retry_after_penalty` variant: Retry-After this much (plus 0-1 s jitter) past the reset
PENALTY_BOX_S = 3.0  # the `retry_after_too_short` defect: how long a refusal holds the key
# Open codes of an invalid request body: what `fastapi_422`, `bad_params_409` and `bad_params_as_500` re-status.
BAD_PARAM_KINDS = ("invalid_parameter", "missing_parameter", "invalid_json")
DAILY_CAP_SHORT_RETRY_S = 60  # the `daily_cap_retry_after_short` defect's Retry-After
STREAM_PACE_S = 0.02  # between stream events, so a client that cuts a stream stops delivery (CHG-5)
# The `bill_cutoff_stream_in_full` defect's pace, slow on purpose: CHG-5 can only show an overcharge
# while the stream is still flowing when the client cuts it (the whole stream must take at least
# twice as long as the cut one's first event). At STREAM_PACE_S a loaded machine delivers the first
# event later than the whole stream takes, CHG-5 turns inconclusive and the defect "survives" the
# kill matrix; at this pace the whole stream takes ~4 s, far beyond any first-event delay we see.
CUT_DEFECT_STREAM_PACE_S = 0.25
# Defects that bill a rejection, by status (CHG-1..4 must catch each).
BILLED_REJECTION_DEFECTS = {401: "charge_401", 429: "charge_429", 400: "charge_bad_params",
                            402: "charge_402_403", 403: "charge_402_403"}

# The `rejection_fee_unitemized` defect: a per-request fee debited outside the charge records.
REJECTION_FEE = 0.0001
# The `rate_limit_code_renamed` defect: the code another vendor's API uses for a rate limit.
FOREIGN_RATE_LIMIT_CODE = "rate_limit_error"

UNAUTHORIZED_MESSAGE = "Invalid or missing API key."
DISABLED_MESSAGE = "This API key has been disabled."
# What a production nginx in front of a gateway answers for a path it does not route.
NGINX_404 = (
    "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
    "<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
# The `stack_trace_in_message` defect: a framework's debug page leaking into the message.
_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/gateway/app.py", line 42, in create_completion\n'
    "    body = json.loads(await request.body())\n"
    '  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads\n'
    "    return _default_decoder.decode(s)\n"
    "json.decoder.JSONDecodeError: {error}"
)
_SAFE_PATH_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_-")


LARGE_DELTA_SECONDS = "2147483648"  # the `retry_after_large_delta` variant: past 32 bits (RFC 9111 §1.2.2)


def http_date(seconds: int, form: str) -> str:
    """An HTTP-date (RFC 9110 §5.6.7) `seconds` from now, rounded up to the next whole second, in
    one of its three forms: imf_fixdate, rfc850 or asctime."""
    at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=seconds + 1)
    month = MONTHS[at.month - 1]
    if form == "rfc850":
        return f"{LONG_DAYS[at.weekday()]}, {at.day:02d}-{month}-{at.year % 100:02d} {at:%H:%M:%S} GMT"
    if form == "asctime":
        return f"{DAYS[at.weekday()]} {month} {at.day:2d} {at:%H:%M:%S} {at.year}"
    return f"{DAYS[at.weekday()]}, {at.day:02d} {month} {at.year} {at:%H:%M:%S} GMT"


def _seconds_to_utc_midnight(now: datetime | None = None) -> int:
    now = now or datetime.now(timezone.utc)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((midnight - now).total_seconds()))


def _seconds_to_month_start(now: datetime | None = None) -> int:
    """Seconds until 00:00 UTC on the first of next month (when a monthly key limit resets)."""
    now = now or datetime.now(timezone.utc)
    first = (now.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((first - now).total_seconds()))


def _seconds_to_daily_reset(reset_at: datetime | None, now: datetime | None = None) -> int:
    """Seconds until the daily cap resets: at `reset_at` (and a day after each time it passes), or
    at midnight UTC when the gateway keeps no reset time of its own."""
    if reset_at is None:
        return _seconds_to_utc_midnight(now)
    now = now or datetime.now(timezone.utc)
    while reset_at <= now:
        reset_at += timedelta(days=1)
    return max(1, math.ceil((reset_at - now).total_seconds()))


@functools.lru_cache(maxsize=64)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def basic_user(credentials: str) -> str:
    """The user name of a Basic credential (RFC 7617 §2: base64 of `user:password`), "" if unreadable:
    the `basic_user_key` variant reads the key there, as Stripe does."""
    import base64
    import binascii

    try:
        return base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")[0]
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""


def _describe_path(method: str, path: str) -> str:
    """`POST /v1/x` when the path is plain; user input that could look like anything is not echoed."""
    if 0 < len(path) <= 100 and set(path) <= _SAFE_PATH_CHARS:
        return f"{method} {path}"
    return method if method.isalpha() and len(method) <= 10 else "this request"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class Gateway:
    """State and pipeline of one reference gateway: profile dialect, defects, ledger, limiter."""

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
        self.upstream = upstream
        self.daily_reset_at = daily_reset_at
        self.defects = defects
        self.variants = variants if variants is not None else Variants()
        self.ledger = ledger
        self.dialect = Dialect(profile, extra_members=self.variants.on("extra_members"))
        self.models = tuple(models)
        self.limiter = FixedWindowLimiter(window_s)
        self.default_rate_limit = default_rate_limit
        self.rate_headers_named = dict(profile.rate_limit_headers)
        forbidden = self.dialect.condition("forbidden_model")
        self._forbidden_code = forbidden.code
        self._has_daily_cap_code = any(c.role == "daily_capped" for c in profile.codes)
        budget = next((c for c in profile.codes if c.role == "over_key_budget"), None)
        self._key_budget_code = budget.code if budget else None  # `quota_retry_after_monthly`
        # `billing_codes_collapsed`: the one code every 402 carries (OpenAI's word where the
        # profile has it, else the no-credit code).
        plan = next((c for c in profile.codes if c.role == "over_plan_quota"), None)
        self._collapsed_402_code = plan.code if plan else self.dialect.condition("no_credit").code
        self.tasks = TaskBook()

    # -- building rejections ------------------------------------------------------------------

    def reject(self, condition: str, message: str, headers: dict[str, str] | None = None) -> Reject:
        """A catalogued rejection for `condition`, with the status the catalogue gives its code."""
        c = self.dialect.condition(condition)
        status, code = c.status, c.code
        if self.defects.on("wrong_status_for_code") and c.code == self._forbidden_code:
            status = 400
        if condition == "rate_limited" and self.defects.on("rate_limit_code_renamed"):
            code = FOREIGN_RATE_LIMIT_CODE
        if condition == "over_plan_quota" and self.defects.on("plan_quota_as_429"):
            status = 429  # what OpenAI's API does with its insufficient_quota
        if status == 402 and self.defects.on("billing_codes_collapsed"):
            code = self._collapsed_402_code
        if condition in ("disallowed_origin", "ip_restricted") and self.defects.on("refusal_403_codes_collapsed"):
            code = self._forbidden_code
        return Reject(status, code, message, headers=headers or {})

    def unauthorized(self, token: str | None = None, message: str = UNAUTHORIZED_MESSAGE) -> Reject:
        if token and self.defects.on("echo_key_in_401"):
            message = f"Incorrect API key provided: {token}. You can find your API key in the console."
        headers: dict[str, str] = {}
        if token and token.isascii() and token.isprintable() and self.defects.on("key_in_www_authenticate"):
            headers["WWW-Authenticate"] = f'Bearer error="invalid_token", error_description="unknown API key {token}"'
        return self.reject("unauthorized", message, headers)

    def bad_request(self, kind: str, message: str, param: str | None = None, status: int = 400) -> Reject:
        if status == 400 and kind in BAD_PARAM_KINDS:
            if self.variants.on("fastapi_422"):
                status = 422  # FastAPI / pydantic: a request body that fails validation
            if self.defects.on("bad_params_409"):
                status = 409
            if self.defects.on("bad_params_as_500"):
                status, kind = 500, "server_error"  # the validation error escapes as an internal error
        return Reject(status, self.dialect.open_code(kind), message, param)

    def bad_param(self, error: ParamError) -> Reject:
        param: str | None = error.param
        if self.variants.on("bad_params_param_null"):
            param = None
        kind = "missing_parameter" if error.missing else "invalid_parameter"
        return self.bad_request(kind, error.message, param)

    def render(self, reject: Reject, extra_headers: dict[str, str] | None = None) -> Response:
        message: str | None = reject.message
        if reject.status == 402 and self.defects.on("empty_message"):
            message = ""
        if reject.status == 403 and self.defects.on("null_message_on_403"):
            message = None
        headers = {**(extra_headers or {}), **reject.headers}
        if reject.status == 402 and self.defects.on("retry_after_on_402"):
            headers["Retry-After"] = "3600"
        if reject.code == self._key_budget_code and self.variants.on("quota_retry_after_monthly"):
            headers["Retry-After"] = str(_seconds_to_month_start())  # when the monthly limit resets
        if reject.status == 403 and self.defects.on("should_retry_on_403"):
            headers["x-should-retry"] = "true"
        if reject.status == 401 and self.defects.on("should_retry_on_401"):
            headers["x-should-retry"] = "true"
        if self.defects.on("retry_after_on_invalid_agent_id") and any(
                c.code == reject.code and c.trigger == "realtime_agent_id" for c in self.profile.codes):
            headers["Retry-After"] = "1"
        if reject.status == 401 and self.variants.on("bearer_challenge"):
            headers["WWW-Authenticate"] = 'Bearer realm="gateway"'  # RFC 6750 §3
        return self.dialect.response(reject.status, reject.code, message, reject.param, headers or None)

    # -- pipeline steps -----------------------------------------------------------------------

    def authenticate(self, request: Request) -> KeyRecord:
        header = request.headers.get("authorization")
        if header is None:
            if self.defects.on("no_auth_is_403"):
                raise Reject(403, self.dialect.condition("unauthorized").code, "Access denied: no API key was sent.")
            if self.defects.on("missing_auth_header_422"):  # a web framework's required-header validation
                raise self.bad_request("missing_parameter", "Field required: header 'authorization'.", status=422)
            raise self.unauthorized()
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() == "basic" and self.variants.on("basic_user_key"):
            scheme, token = "bearer", basic_user(token)
        elif scheme and self.defects.on("any_scheme_token"):
            scheme = "bearer"  # the token after whatever scheme is read as the key
        if scheme.lower() != "bearer":
            if scheme and self.defects.on("wrong_scheme_accepted_as_400"):
                raise self.bad_request("bad_auth_scheme", "Unsupported authorization scheme; use Bearer.")
            raise self.unauthorized()
        if not token or len(token.split(None, 1)) != 1:
            raise self.unauthorized(token)
        key = self.ledger.find_key(token)
        if key is None and self.defects.on("unknown_key_accepted") and token.startswith(("sk-", "pk_")):
            return guest_key()  # a key-cache miss that fails open
        if key is None or key.kind == "admin":
            raise self.unauthorized(token)
        if not key.active and not self.defects.on("disabled_key_served"):
            if self.defects.on("disabled_key_distinct"):
                raise self.reject("unauthorized", DISABLED_MESSAGE)
            raise self.unauthorized(token)
        return key

    def authenticate_admin(self, request: Request) -> None:
        header = request.headers.get("authorization") or ""
        scheme, _, token = header.strip().partition(" ")
        key = self.ledger.find_key(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if key is None or key.kind != "admin" or not key.active:
            raise self.reject("unauthorized", UNAUTHORIZED_MESSAGE)

    def check_origin(self, request: Request, key: KeyRecord) -> None:
        if key.kind != "publishable":
            return
        allowed = () if self.defects.on("every_origin_refused") else (key.allowed_origins or ())
        if request.headers.get("origin") not in allowed:
            raise self.reject("disallowed_origin", "This publishable key may not be used from this origin.")

    def check_ip(self, request: Request, key: KeyRecord) -> None:
        if key.ip_allow is None:
            return
        host = request.client.host if request.client else ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is None or not any(address in net for net in _networks(key.ip_allow)):
            if self.variants.on("ip_message_names_caller"):
                raise self.reject("ip_restricted", f"Requests from {host} are not allowed for this key; add the "
                                                   "address to the key's allow-list.")
            raise self.reject("ip_restricted", "Requests from this IP address are not allowed for this key.")

    def check_daily_cap(self, key: KeyRecord) -> None:
        if key.daily_cap is None or key.daily_used < key.daily_cap:
            return
        wait = _seconds_to_daily_reset(self.daily_reset_at)
        if self.defects.on("daily_cap_retry_after_short"):
            headers = self.retry_after(DAILY_CAP_SHORT_RETRY_S)  # as if it were the per-minute limit
        elif self.variants.on("caps_without_retry_after"):
            headers = {}  # RFC 6585 §4: a 429 "MAY include a Retry-After header"
        else:
            headers = self.retry_after(wait)
        if self.defects.on("daily_cap_should_not_retry"):
            headers["x-should-retry"] = "false"
        if headers and self.variants.on("retry_after_large_delta"):
            headers["Retry-After"] = LARGE_DELTA_SECONDS
        headers.update(self.limit_headers(WindowState(False, key.daily_cap, 0, wait), on_429=True))
        reject = self.reject("daily_capped", "This key has reached its daily request cap; it resets at 00:00 UTC.", headers)
        if self._has_daily_cap_code and self.defects.on("uncatalogued_code"):
            reject.code = "too_many_requests"
        raise reject

    def rate_limit(self, key: KeyRecord) -> dict[str, str]:
        """Count the request; → the rate-limit headers for the response, or raise the 429."""
        state = self.limiter.hit(key.key_id, key.rate_limit or self.default_rate_limit)
        if state.allowed:
            return self.limit_headers(state)
        retry_after_s = state.retry_after_s
        if self.variants.on("retry_after_penalty"):
            # A suggested wait past the window (a penalty and jitter) that the reset header need not
            # show: the window still reopens when X-RateLimit-Reset says.
            retry_after_s += RESET_PENALTY_S + secrets.randbelow(2)
        headers = {**self.limit_headers(state, on_429=True), **self.retry_after(retry_after_s, rate_limit=True)}
        if self.defects.on("retry_after_too_short"):
            # A penalty box the Retry-After does not mention (the reset header shows it).
            self.limiter.restart(key.key_id, hold_s=PENALTY_BOX_S)
            held = self.limiter.peek(key.key_id, key.rate_limit or self.default_rate_limit)
            headers.update(self.limit_headers(WindowState(False, held.limit, 0, held.reset_s), on_429=True))
            headers.update(self.retry_after(1))
        raise self.reject("rate_limited", "Rate limit reached for this key; retry after the time in Retry-After.", headers)

    def retry_after(self, seconds: int, rate_limit: bool = False) -> dict[str, str]:
        if self.defects.on("no_retry_after"):
            return {}
        seconds = max(1, seconds)
        if self.defects.on("retry_after_not_delta_seconds"):
            return {"Retry-After": f"{seconds:.1f}"}  # a float, as str(float) writes it
        form = next((f for f in ("imf_fixdate", "rfc850", "asctime") if self.variants.on(f"retry_after_{f}")), None)
        if rate_limit and form is not None:
            return {"Retry-After": http_date(seconds, form)}
        return {"Retry-After": str(seconds)}

    def limit_headers(self, state: WindowState, on_429: bool = False) -> dict[str, str]:
        names = self.rate_headers_named
        if on_429 and self.defects.on("no_rate_limit_headers"):
            return {}
        headers: dict[str, str] = {}
        if self.variants.on("ietf_ratelimit_fields"):  # draft-ietf-httpapi-ratelimit-headers
            headers["RateLimit-Policy"] = f'"default";q={state.limit};w={max(1, math.ceil(self.limiter.window_s))}'
            headers["RateLimit"] = f'"default";r={state.remaining};t={state.reset_s}'
        remaining = state.remaining
        if self.defects.on("remaining_exceeds_limit"):
            remaining = state.limit + 5
        if on_429 and not state.allowed and self.defects.on("remaining_nonzero_on_429"):
            remaining = state.limit  # the next window's quota, reported while this one refuses
        values = {"limit": state.limit, "remaining": remaining, "reset": self.reset_value(state.reset_s)}
        headers.update({names[k]: str(v) for k, v in values.items() if k in names})
        return headers

    def reset_value(self, seconds: int) -> str:
        """X-RateLimit-Reset in the format the `reset_*` variants pick (default: delta seconds)."""
        at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=seconds + 1)
        if self.variants.on("reset_epoch_seconds"):
            return str(int(at.timestamp()))
        if self.variants.on("reset_rfc3339"):
            return at.isoformat().replace("+00:00", "Z")
        if self.variants.on("reset_http_date"):
            return http_date(seconds, "imf_fixdate")
        if self.variants.on("reset_duration"):
            return f"{seconds // 60}m{seconds % 60}s" if seconds >= 60 else f"{seconds}s"
        return str(seconds)

    def peek_headers(self, key: KeyRecord) -> dict[str, str]:
        if not self.rate_headers_named and not self.variants.on("ietf_ratelimit_fields"):
            return {}
        return self.limit_headers(self.limiter.peek(key.key_id, key.rate_limit or self.default_rate_limit))

    async def read_json(self, request: Request) -> dict[str, Any]:
        fuzz_defects.check_content_type(self, request)
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            await fuzz_defects.maybe_stall_on_large_body(self, request)
            raise self.bad_request("too_large", f"Request body is larger than {MAX_BODY_BYTES} bytes.", status=413)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise self.bad_request("too_large", f"Request body is larger than {MAX_BODY_BYTES} bytes.", status=413)
            chunks.append(chunk)
        fuzz_defects.check_body(self, b"".join(chunks))
        try:
            body = json.loads(b"".join(chunks), parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            request.state.undecodable = isinstance(exc, UnicodeDecodeError)
            message = "The request body is not valid JSON."
            if self.defects.on("stack_trace_in_message"):
                message = _TRACEBACK.format(error=str(exc)[:200])
            raise self.bad_request("invalid_json", message) from None
        if not isinstance(body, dict):
            raise self.bad_request("invalid_json", "The request body must be a JSON object.")
        return body

    def routed_upstream(self, model: Any) -> bool:
        return self.upstream is not None and isinstance(model, str) and routes_upstream(model)

    def check_model(self, key: KeyRecord, model: str) -> None:
        if model not in self.models and not self.routed_upstream(model):
            raise Reject(404, self.dialect.open_code("unknown_model"), "The requested model does not exist.", "model")
        if key.allowed_models is not None and model not in key.allowed_models:
            raise self.reject("forbidden_model", "This key is not allowed to use the requested model.")

    def check_billing(self, key: KeyRecord) -> None:
        if key.kind == "test" and not self.defects.on("test_key_refused"):
            return  # a test key (pyai_test_) is served whatever the org's credit, and never charged
        if key.plan_exhausted:
            raise self.reject("over_plan_quota", "Your plan's quota is exhausted; upgrade the plan to continue.")
        if key.balance <= 0:
            message = "Your wallet balance is insufficient; add credit to continue."
            if self.variants.on("readable_keys"):
                message = "Your wallet balance is insufficient; add credit (or use a pyai_test_ key)."
            reject = self.reject("no_credit", message)
            if not self._has_daily_cap_code and self.defects.on("uncatalogued_code"):
                reject.code = "payment_required"
            raise reject
        if key.monthly_budget is not None and key.spend >= key.monthly_budget:
            raise self.reject("over_key_budget", "This key has reached its monthly budget; raise it or use another key.")

    # -- the pipeline -------------------------------------------------------------------------

    async def handle(self, request: Request, endpoint: Endpoint) -> Response:
        limit_headers: dict[str, str] = {}
        await fuzz_defects.maybe_hang(self, request)
        key: KeyRecord | None = None
        body: dict[str, Any] = {}
        try:
            early_body = None
            if endpoint.validate is not None and self.defects.on("body_before_auth"):
                early_body = await self.read_json(request)
            if endpoint.path == "/v1/chat/completions" and self.upstream is not None \
                    and self.defects.on("upstream_forward_before_checks"):
                early_body = await self.read_json(request)
                await self.forward_unchecked(early_body)
            key = self.authenticate(request)
            limit_headers = self.peek_headers(key)
            self.check_origin(request, key)
            self.check_ip(request, key)
            limit_headers = {}  # the 429s below carry their own
            self.check_daily_cap(key)
            limit_headers = self.rate_limit(key)
            params: dict[str, Any] = {}
            if endpoint.validate is not None:
                body = early_body if early_body is not None else await self.read_json(request)
                try:
                    params = endpoint.validate(body)
                except ParamError as error:
                    raise self.bad_param(error) from None
                self.check_model(key, params["model"])
            if endpoint.billable:
                self.check_billing(key)
            served = endpoint.serve(self, Call(key, request_id_of(request.scope), params, body))
            response = await served if inspect.isawaitable(served) else served
        except UpstreamFailure as failure:
            return self.render_upstream_failure(failure)
        except Reject as reject:
            if reject.status == 402 and body and self.defects.on("upstream_credit_checked_after_forward"):
                await self.forward_unchecked(body)
            self.bill_rejection(request, key, reject)
            return self.render(reject, limit_headers)
        except fuzz_defects.DefectResponse as defect:
            return defect.response
        response.headers.update(limit_headers)
        return response

    async def forward_unchecked(self, body: dict[str, Any]) -> None:
        """The `upstream_forward_before_checks` defect: the body goes upstream before any check ran."""
        if self.upstream is not None and self.routed_upstream(body.get("model")):
            try:
                await self.upstream.post(self, body)
            except UpstreamFailure:
                pass

    def render_upstream_failure(self, failure: UpstreamFailure) -> Response:
        """The client's answer for a provider failure: the profile's envelope, never the provider's."""
        if self.defects.on("upstream_failure_plain_text"):
            return Response(b"Bad Gateway", status_code=502, media_type="text/plain",
                            headers={"x-no-request-id": "1"})
        message = failure.message
        if self.defects.on("upstream_error_body_relayed") and failure.upstream_body:
            message = f"{message} Upstream said: {failure.upstream_body[:500].decode('utf-8', 'replace')}"
        if failure.status == 401:  # the `upstream_auth_relayed` defect: the client is told its key is bad
            reject = self.reject("unauthorized", message)
        elif failure.status == 403:  # the `upstream_auth_as_403` defect: told its key may not use the model
            reject = self.reject("forbidden_model", message)
        else:
            reject = Reject(failure.status, self.dialect.open_code("server_error"), message, headers=failure.headers)
        headers = {"x-should-retry": "false"} if self.defects.on("upstream_5xx_should_not_retry") else {}
        if self.defects.on("upstream_address_in_header") and self.upstream is not None:
            headers["x-upstream"] = self.upstream.url.split("://", 1)[-1]
        return self.render(reject, headers or None)

    def bill_rejection(self, request: Request | WebSocket, key: KeyRecord | None, reject: Reject,
                       request_id: str | None = None) -> None:
        """Only under a `charge_*` defect (or a fee defect): bill a rejected request (or refused realtime
        handshake, whose `request_id` the realtime plane makes itself) as if it had been served."""
        defect = BILLED_REJECTION_DEFECTS.get(reject.status)
        itemized = defect is not None and self.defects.on(defect)
        undecodable = getattr(request.state, "undecodable", False) and self.defects.on("charge_undecodable_body")
        fee = reject.status in BILLED_REJECTION_DEFECTS and self.defects.on("rejection_fee_unitemized")
        if not (itemized or undecodable or fee):
            return
        if key is None:  # rejected at authentication: bill the key the token names, if any
            token = (request.headers.get("authorization") or "").strip().partition(" ")[2].strip()
            key = self.ledger.find_key(token) if token else None
        if key is None:
            return
        if itemized or undecodable:
            self.ledger.charge(request_id or request_id_of(request.scope), key.key_id,
                               fake_model.cost_of(fake_model.MAX_COMPLETION_TOKENS))
        if fee:  # no charge record: only the key's spend and its wallet show it
            self.ledger.debit_fee(key.key_id, REJECTION_FEE)

    def charge(self, call: Call, total_tokens: int) -> None:
        if call.key.kind == "test":
            return  # test keys are never charged
        self.ledger.charge(call.request_id, call.key.key_id, fake_model.cost_of(total_tokens))


# -- serving steps (one per endpoint) ----------------------------------------------------------


def guest_key() -> KeyRecord:
    """What `unknown_key_accepted` serves an unknown token as: a key with no limits and no wallet."""
    return KeyRecord(key_id="key_guest", wallet_id="wal_guest", label="guest", kind="secret", status="active",
                     allowed_models=None, ip_allow=None, allowed_origins=None, monthly_budget=None, spend=0.0,
                     daily_cap=None, daily_used=0, rate_limit=None, concurrency_limit=None, balance=1_000_000.0,
                     plan_exhausted=False)


def _json(payload: dict[str, Any]) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")).encode(), media_type="application/json")


def serve_chat(gateway: Gateway, call: Call) -> Any:
    if gateway.upstream is not None and gateway.routed_upstream(call.params["model"]):
        body = call.body
        if gateway.variants.on("upstream_model_fixed"):  # every request goes upstream as the default model
            body = {**body, "model": OK_MODEL}
        return gateway.upstream.chat(gateway, call, body)  # a coroutine: `handle` awaits it
    if call.params["stream"] and streaming.fails_midstream(call):
        return streaming.cut_after_first_event(gateway, _stream_chat(gateway, call))
    if call.params["stream"]:
        return _stream_chat(gateway, call)
    payload = fake_model.chat_completion(call.params)
    gateway.charge(call, payload["usage"]["total_tokens"])
    return _json(payload)


def _stream_chat(gateway: Gateway, call: Call) -> StreamingResponse:
    delivered = [0]
    events = fake_model.chat_stream_events(call.params, "chatcmpl-" + secrets.token_hex(12), delivered)
    no_done = gateway.variants.on("stream_without_done")
    pace = CUT_DEFECT_STREAM_PACE_S if gateway.defects.on("bill_cutoff_stream_in_full") else STREAM_PACE_S
    if gateway.variants.on("stream_sent_at_once"):
        pace = 0.0

    in_full = gateway.defects.on("bill_cutoff_stream_in_full")
    if in_full:  # billed up front, as a gateway that settles at the start does: no race with the cut
        gateway.charge(call, call.params["prompt_tokens"] + fake_model.completion_tokens(call.params) * call.params["n"])

    async def body() -> AsyncIterator[bytes]:
        try:
            for position, event in enumerate(events):
                if no_done and event.startswith(b"data: [DONE]"):
                    break
                if position:
                    await asyncio.sleep(pace)
                yield streaming.gateway_framing(gateway, event)
        finally:  # charged for what was delivered, also when the client cut the stream
            if not in_full:
                gateway.charge(call, call.params["prompt_tokens"] + delivered[0])

    return StreamingResponse(body(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def serve_completion(gateway: Gateway, call: Call) -> Response:
    payload = fake_model.text_completion(call.params)
    gateway.charge(call, payload["usage"]["total_tokens"])
    return _json(payload)


def serve_embeddings(gateway: Gateway, call: Call) -> Response:
    payload = fake_model.embeddings(call.params)
    gateway.charge(call, payload["usage"]["total_tokens"])
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
            gateway.authenticate_admin(request)
            request_id = _path_segment(request, "/_oracle/requests/")
            charge = gateway.ledger.charge_for(request_id) if request_id is not None else None
            if charge is None:
                raise Reject(404, gateway.dialect.open_code("not_found"), "No charge is recorded for this request id.")
        except Reject as reject:
            return gateway.render(reject)
        return _json({"request_id": charge.request_id, "cost": charge.amount, "key_id": charge.key_id})

    async def key_account(request: Request) -> Response:
        try:
            gateway.authenticate_admin(request)
            account = gateway.ledger.account(request.path_params["key_id"])
            if account is None:
                raise Reject(404, gateway.dialect.open_code("not_found"), "No key has this id.")
        except Reject as reject:
            return gateway.render(reject)
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
                405, dialect.open_code("method_not_allowed"), f"Method not allowed: {where}", headers=exc.headers
            )
        kind = "server_error" if exc.status_code >= 500 else "invalid_parameter"
        return dialect.response(exc.status_code, dialect.open_code(kind), "The request could not be served.")

    return handle


def _middleware(gateway: Gateway) -> list[Middleware]:
    """Outermost first: transport variants, request ids, then the protocol-status variant."""
    layers = [Middleware(RequestIdMiddleware, dialect=gateway.dialect, defects=gateway.defects,
                         trace_form=gateway.variants.on("trace_context_request_ids"))]
    if gateway.variants.on("protocol_statuses"):
        layers.append(Middleware(ProtocolStatuses, dialect=gateway.dialect))
    if gateway.variants.active & {"gzip_error_bodies", "chunked_error_bodies", "connection_close", "request_id_header_case"}:
        layers.insert(0, Middleware(TransportVariants, variants=gateway.variants,
                                    request_id_header=gateway.profile.request_id_header))
    return layers


def create_app(
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
) -> Starlette:
    """The reference gateway for `profile`, with `defects` (and clean `variants`) switched on, billing into `ledger`;
    with `upstream`, the provider's models are forwarded there (provider mode)."""
    gateway = Gateway(profile, defects, ledger, models=models, window_s=window_s, default_rate_limit=default_rate_limit,
                      variants=variants, daily_reset_at=daily_reset_at,
                      upstream=upstream)
    routes = inference_routes(gateway) + oracle_routes(gateway) + realtime_routes(gateway) + management_routes(gateway)
    if profile.has_tasks:
        routes += task_routes(gateway)
    app = Starlette(
        routes=routes,
        middleware=_middleware(gateway),
        exception_handlers={HTTPException: _http_exception_handler(gateway)},
    )
    app.router.redirect_slashes = False  # `/v1/models/` is an unknown path (404), not a redirect
    app.state.gateway = gateway
    return app
