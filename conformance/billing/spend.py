"""FUZ-3's view of the billing oracle: one spend snapshot before the fuzz run, one after.

FUZ-3 needs only "what has this key spent" and "what did this request id cost"; the lookups
themselves are `conformance.billing.oracle.BillingOracle`'s, so FUZ-3 and the CHG requirements read
money the same way. An answer the oracle cannot give raises `OracleUnavailable` (→ inconclusive).
"""

from __future__ import annotations

from typing import Any

from conformance.billing.oracle import BillingOracle, Reading
from conformance.contract.target_config import TargetConfig
from conformance.transport.client import GatewayClient


class OracleUnavailable(Exception):
    """The billing oracle cannot answer; the message says why (→ inconclusive)."""


class SpendReader:
    def __init__(self, client: GatewayClient, config: TargetConfig, view: str | None = None) -> None:
        self.client = client
        self.config = config
        self.view = view  # "key_spend" or "balance"; None: key_spend when configured, else balance
        self.oracle = BillingOracle(client, config)
        self.section = config.section("billing")
        if self.section and self.section.get("api_key"):
            client.redactor.add(self.section["api_key"])

    def unavailable_reason(self) -> str | None:
        if self.section is None:
            return self.config.missing_section_reason("billing")
        if not (self.section.get("key_spend") or self.section.get("balance")):
            return "section 'billing' has neither key_spend nor balance: nothing to snapshot"
        return None

    @staticmethod
    def _value(reading: Reading) -> float:
        if not reading.ok:
            raise OracleUnavailable(reading.reason)
        return reading.value or 0.0

    def snapshot(self, roles: list[str]) -> dict[str, float]:
        """Spend per role (or minus the balance when only `balance` is known: both grow with charges),
        read by the one snapshot the CHG tests read too (`BillingOracle.snapshot`)."""
        use_spend = self.view == "key_spend" if self.view else bool((self.section or {}).get("key_spend"))
        view = "key_spend" if use_spend else "balance"
        key_ids: dict[str, str] = {}
        for role in roles:
            facts: dict[str, Any] = self.config.role(role) or {}
            if not facts.get("key_id"):
                raise OracleUnavailable(f"role '{role}' has no key_id: the billing oracle cannot look it up")
            key_ids[role] = str(facts["key_id"])
        readings = self.oracle.snapshot(list(key_ids.values()), [view])
        sign = 1.0 if use_spend else -1.0
        return {role: sign * self._value(readings[(view, key_id)]) for role, key_id in key_ids.items()}

    @property
    def prices_requests(self) -> bool:
        return bool((self.section or {}).get("request_cost"))

    def request_cost(self, request_id: str) -> float | None:
        """What one request cost, or None when the config has no per-request lookup."""
        if not self.prices_requests:
            return None
        return self._value(self.oracle.request_cost(request_id))
