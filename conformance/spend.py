"""A tiny, swappable reader of the billing oracle for FUZ-3 (one snapshot before, one after).

Kept apart from any fuller billing module on purpose: FUZ-3 needs only "what has this key spent"
and "what did this request id cost", read from the target config's `billing` section
(`key_spend` / `balance` lookups with a JSON pointer, `request_cost` by request id). When a richer
oracle lands, this module is the one place to swap.
"""

from __future__ import annotations

from typing import Any

from conformance.client import NOT_JSON, Exchange, GatewayClient
from conformance.config import TargetConfig
from conformance.profiles import resolve_pointer


class OracleUnavailable(Exception):
    """The billing oracle cannot answer; the message says why (→ inconclusive)."""


class SpendReader:
    def __init__(self, client: GatewayClient, config: TargetConfig) -> None:
        self.client = client
        self.config = config
        self.section = config.section("billing")
        if self.section and self.section.get("api_key"):
            client.redactor.add(self.section["api_key"])

    def unavailable_reason(self) -> str | None:
        if self.section is None:
            return self.config.missing_section_reason("billing")
        if not (self.section.get("key_spend") or self.section.get("balance")):
            return "section 'billing' has neither key_spend nor balance: nothing to snapshot"
        return None

    def _lookup(self, name: str, **values: str) -> tuple[float | None, Exchange]:
        lookup = (self.section or {}).get(name)
        if not isinstance(lookup, dict):
            raise OracleUnavailable(f"section 'billing' has no {name} lookup")
        url = str(lookup["url"])
        for key, value in values.items():
            url = url.replace("{" + key + "}", value)
        exchange = self.client.request(
            str(lookup.get("method", "GET")), url, api_key=(self.section or {}).get("api_key"), label=f"oracle:{name}"
        )
        if exchange.status == 404 and "not_found_means" in lookup:
            return float(lookup["not_found_means"]), exchange
        body = exchange.json()
        if exchange.status != 200 or body is NOT_JSON:
            raise OracleUnavailable(f"billing {name} lookup answered {exchange.describe()}")
        found, value = resolve_pointer(body, str(lookup.get("pointer", "")))
        if not found or not isinstance(value, (int, float)) or isinstance(value, bool):
            raise OracleUnavailable(f"billing {name} lookup: no number at {lookup.get('pointer')!r}")
        return float(value), exchange

    def snapshot(self, roles: list[str]) -> dict[str, float]:
        """Spend per role (or minus the balance when only `balance` is known: both grow with charges)."""
        out: dict[str, float] = {}
        use_spend = bool((self.section or {}).get("key_spend"))
        for role in roles:
            facts: dict[str, Any] = self.config.role(role) or {}
            key_id = facts.get("key_id")
            if not key_id:
                raise OracleUnavailable(f"role '{role}' has no key_id: the billing oracle cannot look it up")
            if use_spend:
                out[role] = self._lookup("key_spend", key_id=str(key_id))[0] or 0.0
            else:
                out[role] = -(self._lookup("balance", key_id=str(key_id))[0] or 0.0)
        return out

    @property
    def prices_requests(self) -> bool:
        return bool((self.section or {}).get("request_cost"))

    def request_cost(self, request_id: str) -> float | None:
        """What one request cost, or None when the config has no per-request lookup."""
        if not self.prices_requests:
            return None
        return self._lookup("request_cost", request_id=request_id)[0]
