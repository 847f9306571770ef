"""The billing oracle for the conformance suite: what LiteLLM charged, per call id.

A LiteLLM custom logger records `response_cost` for every request it bills, keyed by its call id
(the `x-litellm-call-id` response header). A small route on the proxy's own app serves it in the
target-config `billing.request_cost` format; an id with no record answers 404 (`not_found_means: 0`).
Failed calls are recorded too (with their cost, usually 0), so "was a rejection charged?" has an
answer either way.
"""

# No `from __future__ import annotations`: FastAPI reads the route handlers' annotations at runtime.
from typing import Any

from fastapi import HTTPException, Request
from litellm.integrations.custom_logger import CustomLogger

from gwc_hooks import ledger
from gwc_hooks.keys import KEYS

ORACLE_PREFIX = "/gwc-billing"


class CostLogger(CustomLogger):
    def _record(self, kwargs: dict[str, Any], charged: bool) -> None:
        call_id = kwargs.get("litellm_call_id")
        if not call_id:
            return
        cost = float(kwargs.get("response_cost") or 0.0) if charged else 0.0
        metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        alias = metadata.get("user_api_key_alias") or ""
        with ledger.lock:
            ledger.costs[call_id] = cost
            if alias:
                ledger.spend_by_alias[alias] = ledger.spend_by_alias.get(alias, 0.0) + cost

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
        self._record(kwargs, charged=True)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
        self._record(kwargs, charged=True)


cost_logger = CostLogger()


def install_routes() -> None:
    """Add the oracle routes to the running proxy app (idempotent). Guarded by the billing key."""
    from litellm.proxy.proxy_server import app

    if any(getattr(r, "path", "").startswith(ORACLE_PREFIX) for r in app.routes):
        return
    admin = next(k for k, v in KEYS.items() if v["key_alias"] == "billing")

    def _guard(request: Request) -> None:
        if request.headers.get("authorization", "") != f"Bearer {admin}":
            raise HTTPException(status_code=401, detail="billing oracle: bad key")

    async def request_cost(call_id: str, request: Request) -> dict[str, Any]:
        _guard(request)
        with ledger.lock:
            if call_id not in ledger.costs:
                raise HTTPException(status_code=404, detail="no such call id")
            return {"call_id": call_id, "cost": ledger.costs[call_id]}

    async def key_spend(alias: str, request: Request) -> dict[str, Any]:
        _guard(request)
        with ledger.lock:
            return {"key_id": alias, "spend": ledger.spend_by_alias.get(alias, 0.0)}

    app.add_api_route(ORACLE_PREFIX + "/requests/{call_id}", request_cost, methods=["GET"])
    app.add_api_route(ORACLE_PREFIX + "/keys/{alias}", key_spend, methods=["GET"])
