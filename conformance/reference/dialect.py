"""Speak the profile's error dialect: which code each condition carries, and the body it goes in.

The reference gateway must keep whatever contract it is started with, so nothing about codes or
envelopes is hard-coded in the request pipeline: each rejection names a *condition*
(`rate_limited`, `no_credit`, …); this module looks the condition's code up in the profile's
catalogue by `trigger` / `role` (with the fallbacks a profile lacking that code needs) and builds
the body from the envelope's JSON pointers, so a vendor profile with another envelope works too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from conformance.contract.profiles import Code, Profile

OPENAI_ENVELOPE = "envelope-openai.schema.json"

# The OpenAI `type` member, by status: SDKs and dashboards group errors by it.
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}

# Codes for statuses the catalogue leaves open: (OpenAI-style `code`, code-in-`type` style).
# OpenAI puts null in `code` where it has nothing better; a profile that carries the code in
# `type` needs a string there, so it gets a descriptive one.
OPEN_CODES: dict[str, tuple[str | None, str]] = {
    "invalid_json": ("invalid_json", "invalid_request"),
    "missing_parameter": ("missing_required_parameter", "invalid_request"),
    "invalid_parameter": ("invalid_value", "invalid_request"),
    "unknown_path": (None, "not_found"),
    "unknown_model": ("model_not_found", "model_not_found"),
    "method_not_allowed": (None, "method_not_allowed"),
    "too_large": ("request_too_large", "request_too_large"),
    "server_error": ("server_error", "server_error"),
    "not_found": (None, "not_found"),
    "bad_auth_scheme": ("unsupported_auth_scheme", "invalid_request"),
    "bad_http": ("invalid_request", "invalid_request"),
}


@dataclass(frozen=True)
class Condition:
    """A catalogued rejection as the gateway sends it: status and code."""

    status: int
    code: str


def _find(profile: Profile, *, trigger: str | None = None, role: str | None = None) -> Code | None:
    for c in profile.codes:
        if trigger is not None and c.trigger != trigger:
            continue
        if role is not None and c.role != role:
            continue
        return c
    return None


def resolve_conditions(profile: Profile) -> dict[str, Condition]:
    """Each condition the pipeline can raise → the profile's code for it.

    Fallbacks follow the contracts' meaning: a profile without an IP code (pyai) forbids through
    its scope code; without a daily-cap code (mindproxy) a cap is a rate limit; without an
    origin code a bad origin is a scope refusal; an exhausted plan is a shortfall of credit.
    """

    def pick(*candidates: Code | None, default: tuple[int, str]) -> Condition:
        for c in candidates:
            if c is not None:
                return Condition(c.status, c.code)
        return Condition(*default)

    forbidden = _find(profile, trigger="forbidden_model")
    burst = _find(profile, trigger="burst")
    no_credit = _find(profile, role="no_credit")
    unauthorized = profile.code(profile.unauthorized_code)
    return {
        "unauthorized": pick(unauthorized, default=(401, "unauthorized")),
        "forbidden_model": pick(forbidden, default=(403, "forbidden")),
        "disallowed_origin": pick(_find(profile, trigger="disallowed_origin"), forbidden, default=(403, "forbidden")),
        "ip_restricted": pick(_find(profile, role="ip_restricted"), forbidden, default=(403, "forbidden")),
        "daily_capped": pick(_find(profile, role="daily_capped"), burst, default=(429, "rate_limited")),
        "rate_limited": pick(burst, default=(429, "rate_limited")),
        "over_plan_quota": pick(_find(profile, role="over_plan_quota"), no_credit, default=(402, "insufficient_quota")),
        "no_credit": pick(no_credit, default=(402, "insufficient_credit")),
        "over_key_budget": pick(_find(profile, role="over_key_budget"), no_credit, default=(402, "insufficient_credit")),
        "concurrency_limited": pick(_find(profile, role="concurrency_limited"), burst, default=(429, "rate_limited")),
    }


def _set_pointer(document: dict[str, Any], pointer: str, value: Any) -> None:
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.lstrip("/").split("/")]
    node = document
    for token in tokens[:-1]:
        node = node.setdefault(token, {})
    node[tokens[-1]] = value


class Dialect:
    """Error bodies and responses in the profile's envelope."""

    def __init__(self, profile: Profile, extra_members: bool = False) -> None:
        self.profile = profile
        self.extra_members = extra_members  # the `extra_members` variant
        self.openai = profile.envelope_schema.endswith(OPENAI_ENVELOPE)
        self.conditions = resolve_conditions(profile)

    def condition(self, name: str) -> Condition:
        return self.conditions[name]

    def open_code(self, kind: str) -> str | None:
        """The code for an open-status error (bad params, unknown path, …) in this dialect."""
        openai_code, type_code = OPEN_CODES[kind]
        return openai_code if self.openai else type_code

    def body(self, status: int, code: str | None, message: str | None, param: str | None = None) -> dict[str, Any]:
        document: dict[str, Any] = {}
        profile = self.profile
        _set_pointer(document, profile.message_pointer, message)
        if self.openai:
            error = document.setdefault("error", {})
            error["type"] = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
            error.setdefault("param", None)
        _set_pointer(document, profile.code_pointer, code)
        if profile.param_pointer:
            _set_pointer(document, profile.param_pointer, param)
        if self.extra_members:
            document["error"]["doc_url"] = "https://docs.example/errors"
            document["meta"] = {"gateway": "reference", "retryable": status >= 500 or status == 429}
        return document

    def response(
        self,
        status: int,
        code: str | None,
        message: str | None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """A JSON error response; `json.dumps` here rather than JSONResponse to keep it cheap."""
        payload = json.dumps(self.body(status, code, message, param), separators=(",", ":")).encode()
        return Response(payload, status_code=status, headers=headers, media_type="application/json")
