"""The OpenAPI description of the inference routes, bound to a profile, as schemathesis sees it.

`schemas/openapi-inference.yaml` describes the routes once; its `ErrorEnvelope` placeholder is
replaced here by the profile's envelope schema, so one file serves every profile. Schemathesis
gets its own `schemathesis.Config()`: a user's `schemathesis.toml` must not change what a
certification run sends.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from functools import lru_cache, partial
from typing import Any
from urllib.parse import urlsplit

from conformance.contract.profiles import Profile
from conformance.contract.resources import SCHEMAS_DIR
from conformance.contract.safe_yaml import load_document
from conformance.contract.schemas import registry, schema_uri
from conformance.fuzzing.draw_ahead import Draw
from conformance.fuzzing.engine import seed_for

DESCRIPTION = "openapi-inference.yaml"
# Headers schemathesis adds for its own bookkeeping; the client sets what it needs itself.
_DROP_HEADERS = frozenset({"user-agent", "accept-encoding", "connection", "x-schemathesis-testcaseid", "authorization"})


@lru_cache(maxsize=1)
def _raw() -> dict[str, Any]:
    return load_document(SCHEMAS_DIR / DESCRIPTION, "OpenAPI description")


def operation_labels() -> list[str]:
    """`POST /v1/chat/completions`, … in file order: cheap enough for collection time."""
    return [f"{method.upper()} {path}" for path, item in _raw()["paths"].items() for method in item]


def bound_description(profile: Profile) -> dict[str, Any]:
    """The description with the profile's envelope schema in place of `ErrorEnvelope`."""
    document = json.loads(json.dumps(_raw()))
    envelope = dict(registry().contents(schema_uri(profile.envelope_schema)))
    for key in ("$id", "$schema"):
        envelope.pop(key, None)
    document["components"]["schemas"]["ErrorEnvelope"] = envelope
    return document


@lru_cache(maxsize=4)
def _schema(profile_path: str, envelope_schema: str) -> Any:
    import schemathesis

    from conformance.contract.profiles import load_profile

    return schemathesis.openapi.from_dict(bound_description(load_profile(profile_path)), config=schemathesis.Config())


def operation(profile: Profile, label: str) -> Any:
    """The schemathesis `APIOperation` for `METHOD /path`."""
    schema = _schema(str(profile.path), profile.envelope_schema)
    for result in schema.get_all_operations():
        op = result.ok()
        if op is not None and f"{op.method.upper()} {op.path}" == label:
            return op
    raise KeyError(f"no operation {label!r} in {DESCRIPTION}")


# Where `request_of` has a case aim (only the path, query, headers and body are kept).
FUZZ_BASE_URL = "http://fuzz.invalid"


class DrawnCase:
    """What a generated case sends, as `request_of` reads it, without the case itself (which holds
    the whole schema): an example drawn in another process that can cross a pipe (`draw_ahead`)."""

    def __init__(self, case: Any) -> None:
        self.kwargs = case.as_transport_kwargs(base_url=FUZZ_BASE_URL)

    def as_transport_kwargs(self, *, base_url: str) -> dict[str, Any]:
        if base_url != FUZZ_BASE_URL:
            raise ValueError(f"a drawn case was made for {FUZZ_BASE_URL}, not {base_url}")
        return copy.deepcopy(self.kwargs)


def request_of(case: Any, *, unbillable_model: str | None = None) -> tuple[str, str, dict[str, str], bytes | None, dict[str, Any]]:
    """A generated case → (method, path, headers, body bytes, query) for `GatewayClient.request`.

    `unbillable_model`: where spending is not allowed, a body's string `model` becomes this (a model
    no gateway serves). A negative case may break only a header or the query and leave a valid
    body behind; with a real model that is a billable success on a lenient gateway."""
    kwargs = case.as_transport_kwargs(base_url=FUZZ_BASE_URL)
    if unbillable_model and isinstance(kwargs.get("json"), dict) and isinstance(kwargs["json"].get("model"), str):
        kwargs["json"] = {**kwargs["json"], "model": unbillable_model}
    path = urlsplit(kwargs["url"]).path
    headers = {str(k): str(v) for k, v in (kwargs.get("headers") or {}).items() if str(k).lower() not in _DROP_HEADERS}
    body: bytes | None = None
    if "json" in kwargs and kwargs["json"] is not None:
        body = json.dumps(kwargs["json"]).encode()
        headers.setdefault("Content-Type", "application/json")
    elif kwargs.get("data") is not None or kwargs.get("content") is not None:
        raw = kwargs.get("data") if kwargs.get("data") is not None else kwargs.get("content")
        body = raw if isinstance(raw, bytes) else str(raw).encode("utf-8", "surrogatepass")
    params = {str(k): v for k, v in (kwargs.get("params") or {}).items()}
    return kwargs["method"], path, headers, body, params


# The suite's OpenAPI fuzz test: its node name (`test_fuzz_openapi[POST /v1/chat/completions]`)
# seeds its search (`engine.seed_for`), so a warm server drawing its examples ahead names it too.
OPENAPI_FUZZ_TEST = "test_fuzz_openapi"


def openapi_fuzz_test_name(label: str) -> str:
    return f"{OPENAPI_FUZZ_TEST}[{label}]"


def _positive_too(label: str, billable_allowed: bool) -> bool:
    # A schema-valid request to a billable route is a billable success: only where spending is allowed.
    return billable_allowed or label.startswith("GET ")


def case_strategy(profile: Profile, label: str, *, billable_allowed: bool) -> Any:
    """The cases FUZ-1 sends to `label`: schema-breaking ones, and schema-valid ones where they
    cannot spend money."""
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    op = operation(profile, label)
    modes = [op.as_strategy(generation_mode=GenerationMode.NEGATIVE)]
    if _positive_too(label, billable_allowed):
        modes.insert(0, op.as_strategy(generation_mode=GenerationMode.POSITIVE))
    return st.one_of(*modes)


def case_strategy_key(profile: Profile, label: str, *, billable_allowed: bool) -> tuple[str, ...]:
    """What decides `case_strategy`'s draws besides the seed: its key in `draw_memo`."""
    return ("openapi", str(profile.path), profile.envelope_schema, label, str(_positive_too(label, billable_allowed)))


def openapi_draws(profile: Profile, labels: Sequence[str], *, examples: int, seed: int | None,
                  billable_allowed: bool) -> list[Draw]:
    """What FUZ-1's OpenAPI tests for `labels` will draw (in that order), for `draw_ahead`: keyed
    as `test_fuzz_openapi` asks `draw_memo`, seeded as `engine.seed_for` seeds it."""
    return [Draw(case_strategy_key(profile, label, billable_allowed=billable_allowed),
                 partial(case_strategy, profile, label, billable_allowed=billable_allowed),
                 seed_for(openapi_fuzz_test_name(label), seed), examples, DrawnCase) for label in labels]
