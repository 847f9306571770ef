"""The static key table: one key per conformance role (SPEC.md "Credential roles").

Local, offline test keys for a proxy bound to 127.0.0.1 — not secrets. Each entry holds the
UserAPIKeyAuth fields that make LiteLLM itself put the key in the role's state.
"""

from __future__ import annotations

from typing import Any

# key -> UserAPIKeyAuth fields. `spend` above `max_budget` makes the budget check reject.
KEYS: dict[str, dict[str, Any]] = {
    "sk-gwc-valid-0000000000000001": {"key_alias": "valid", "models": []},
    "sk-gwc-restricted-000000000002": {"key_alias": "restricted", "models": ["gpt-4o-mini"]},
    "sk-gwc-ratelimited-00000000003": {"key_alias": "rate_limited", "models": [], "rpm_limit": 3},
    "sk-gwc-overbudget-000000000004": {"key_alias": "over_key_budget", "models": [], "max_budget": 0.0001,
                                       "spend": 1.0},
    "sk-gwc-disabled-00000000000006": {"key_alias": "disabled", "models": [], "blocked": True},
    "sk-gwc-billing-admin-00000005": {"key_alias": "billing", "models": []},
}
