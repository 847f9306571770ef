"""LiteLLM `general_settings.custom_auth` hook: look the bearer key up in the static table.

An unknown key raises, which LiteLLM turns into its 401 answer; a known one becomes a
UserAPIKeyAuth carrying the role's limits, which LiteLLM's common checks then enforce (model
access, rpm). One exception, found by reading LiteLLM 1.99.4: the key-level `max_budget` check
(`_virtual_key_max_budget_check`) runs only on the virtual-key path, never after custom_auth, so
the hook calls that same LiteLLM function itself — the rejection is still LiteLLM's own. Likewise
`blocked` is checked only for virtual keys; the hook raises what that check raises
(user_api_key_auth.py, "base case: key is disabled") so the `disabled` role answers as a blocked
LiteLLM key does.
"""

from __future__ import annotations

import hashlib

from fastapi import Request
from litellm.proxy._types import UserAPIKeyAuth
from litellm.proxy.auth.auth_checks import _virtual_key_max_budget_check
from litellm.proxy.auth.route_checks import RouteChecks

from gwc_hooks import billing
from gwc_hooks.keys import KEYS

billing.install_routes()


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    fields = KEYS.get(api_key)
    if fields is None:
        raise Exception("invalid API key")
    if fields.get("blocked"):
        raise Exception("Key is blocked. Update via `/key/unblock` if you're an admin.")
    # `token` is what LiteLLM's rate limiter and spend tracking key on: a stable hash, never the key.
    token = hashlib.sha256(api_key.encode()).hexdigest()
    auth = UserAPIKeyAuth(api_key=api_key, token=token, **fields)
    if auth.max_budget is not None and RouteChecks.is_llm_api_route(route=request.url.path):
        from litellm.proxy.proxy_server import proxy_logging_obj

        await _virtual_key_max_budget_check(valid_token=auth, proxy_logging_obj=proxy_logging_obj)
    return auth
