"""The dialect step of the reference gateway: how a rejection is written for the profile.

Every other step decides *whether* to refuse and names the condition (`rate_limited`,
`no_credit`, …); this one decides how the refusal reads on the wire: its status and code from the
catalogue (`Dialect`), its message, its headers. So every defect that bends how a refusal is
written (a renamed code, a wrong status, a missing message, a stray header) lives here, and no
other step touches codes or statuses of catalogued refusals.
"""

from __future__ import annotations

from starlette.responses import Response

from conformance.contract.profiles import Profile
from conformance.reference.clock import seconds_to_month_start
from conformance.reference.defects import Defects
from conformance.reference.dialect import Dialect
from conformance.reference.types import Reject
from conformance.reference.variants import Variants
from conformance.servers.request_params import ParamError

# Open codes of an invalid request body: what `fastapi_422`, `bad_params_409` and `bad_params_as_500` re-status.
BAD_PARAM_KINDS = ("invalid_parameter", "missing_parameter", "invalid_json")
# The `rate_limit_code_renamed` defect: the code another vendor's API uses for a rate limit.
FOREIGN_RATE_LIMIT_CODE = "rate_limit_error"
# The `uncatalogued_code` defect: codes no catalogue has, for the daily cap (a profile with a
# daily-cap code) or for no credit (a profile without one).
UNCATALOGUED_DAILY_CAP_CODE = "too_many_requests"
UNCATALOGUED_NO_CREDIT_CODE = "payment_required"


class Rejections:
    """Rejections in the profile's dialect, bent by the defects and variants of how refusals are written."""

    def __init__(self, profile: Profile, dialect: Dialect, defects: Defects, variants: Variants) -> None:
        self.profile = profile
        self.dialect = dialect
        self.defects = defects
        self.variants = variants
        self.forbidden_code = dialect.condition("forbidden_model").code
        self.has_daily_cap_code = any(c.role == "daily_capped" for c in profile.codes)
        budget = next((c for c in profile.codes if c.role == "over_key_budget"), None)
        self.key_budget_code = budget.code if budget else None  # `quota_retry_after_monthly`
        # `billing_codes_collapsed`: the one code every 402 carries (OpenAI's word where the
        # profile has it, else the no-credit code).
        plan = next((c for c in profile.codes if c.role == "over_plan_quota"), None)
        self.collapsed_402_code = plan.code if plan else dialect.condition("no_credit").code

    def reject(self, condition: str, message: str, headers: dict[str, str] | None = None) -> Reject:
        """A catalogued rejection for `condition`, with the status the catalogue gives its code."""
        c = self.dialect.condition(condition)
        status, code = c.status, c.code
        if self.defects.on("wrong_status_for_code") and c.code == self.forbidden_code:
            status = 400
        if condition == "rate_limited" and self.defects.on("rate_limit_code_renamed"):
            code = FOREIGN_RATE_LIMIT_CODE
        if condition == "over_plan_quota" and self.defects.on("plan_quota_as_429"):
            status = 429  # what OpenAI's API does with its insufficient_quota
        if status == 402 and self.defects.on("billing_codes_collapsed"):
            code = self.collapsed_402_code
        if condition in ("disallowed_origin", "ip_restricted") and self.defects.on("refusal_403_codes_collapsed"):
            code = self.forbidden_code
        if condition == "daily_capped" and self.has_daily_cap_code and self.defects.on("uncatalogued_code"):
            code = UNCATALOGUED_DAILY_CAP_CODE
        if condition == "no_credit" and not self.has_daily_cap_code and self.defects.on("uncatalogued_code"):
            code = UNCATALOGUED_NO_CREDIT_CODE
        return Reject(status, code, message, headers=headers or {})

    def bad_request(self, kind: str, message: str, param: str | None = None, status: int = 400) -> Reject:
        """A rejection with an open code (`kind`: invalid_json, too_large, …), not a catalogued one."""
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
        """The response for `reject`: the profile's envelope, with `extra_headers` under the rejection's own."""
        message: str | None = reject.message
        if reject.status == 402 and self.defects.on("empty_message"):
            message = ""
        if reject.status == 403 and self.defects.on("null_message_on_403"):
            message = None
        headers = {**(extra_headers or {}), **reject.headers}
        if reject.status == 402 and self.defects.on("retry_after_on_402"):
            headers["Retry-After"] = "3600"
        if reject.code == self.key_budget_code and self.variants.on("quota_retry_after_monthly"):
            headers["Retry-After"] = str(seconds_to_month_start())  # when the monthly limit resets
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


class Step:
    """A pipeline step: it writes its refusals through the dialect step and asks the same switches."""

    def __init__(self, rejections: Rejections) -> None:
        self.rejections = rejections
        self.defects = rejections.defects
        self.variants = rejections.variants
