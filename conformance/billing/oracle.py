"""The billing oracle: how the suite learns what a gateway charged (target-config `billing`).

Why a separate object: every "not charged" requirement is only as good as the view it reads, so
the views are explicit — the cost recorded for one request id (`request_cost`), a key's running
spend (`key_spend`) and its available balance (`balance`, which also shows holds). Lookups are
requests to the target's console: they go through the run's client (budget, rate cap, redaction)
and are labelled `oracle:*` so evidence never mistakes them for the requests under test.
An answer the oracle cannot give is `None` plus a reason, never a guess.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

from conformance.contract.profiles import resolve_pointer
from conformance.contract.target_config import TargetConfig
from conformance.transport.client import NOT_JSON, Exchange, GatewayClient
from conformance.transport.gather import run_lanes
from conformance.transport.uri_template import expand

VIEWS = ("request_cost", "key_spend", "balance")
# Money compares with a tolerance: consoles round, floats add dust.
EPSILON = 1e-9


@dataclass
class Reading:
    """One oracle answer: the value, or None and why (what the oracle actually returned)."""

    value: float | None
    reason: str = ""
    exchange: Exchange | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None


class BillingOracle:
    def __init__(self, client: GatewayClient, config: TargetConfig) -> None:
        self.client = client
        self.config = config
        self.section = config.section("billing")
        self.settle_s = float((self.section or {}).get("settle_s", 0) or 0)
        self._apart: set[frozenset[str]] = set()  # key_id pairs a charge showed do not share a balance

    # --- what the config offers -------------------------------------------------------------
    @property
    def configured(self) -> bool:
        return self.section is not None and any(self.section.get(v) for v in VIEWS)

    def missing_reason(self) -> str:
        if self.section is None:
            return self.config.missing_section_reason("billing")
        return "section 'billing' has none of request_cost, key_spend, balance"

    def has(self, view: str) -> bool:
        return bool(self.section and self.section.get(view))

    # --- lookups ----------------------------------------------------------------------------
    def request_cost(self, request_id: str | None) -> Reading:
        if not request_id:
            return Reading(None, "the response carried no request id to look the charge up by")
        return self._lookup("request_cost", {"request_id": request_id})

    def key_spend(self, key_id: str | None) -> Reading:
        return self._by_key("key_spend", key_id)

    def balance(self, key_id: str | None) -> Reading:
        return self._by_key("balance", key_id)

    def _by_key(self, view: str, key_id: str | None) -> Reading:
        if not key_id:
            return Reading(None, "the role has no key_id in the target config")
        return self._lookup(view, {"key_id": key_id})

    def _api_keys(self, key_ids: list[str]) -> list[str] | None:
        """The api keys of the roles whose key_id is one of `key_ids`; None (every key) where one
        names no role of the config."""
        roles = [r for r in self.config.roles.values() if isinstance(r, dict)]
        keys = [str(r["api_key"]) for r in roles if r.get("key_id") in key_ids and r.get("api_key")]
        known = {r.get("key_id") for r in roles}
        return keys if all(k in known for k in key_ids) else None

    def moved_by(self, key_ids: list[str], views: list[str]) -> list[str] | None:
        """The api keys whose requests may move these readings (None: any key). A key's spend is its
        own. A balance may be its wallet's or its organisation's, shared with keys the config does
        not say (SPEC: "a key whose wallet/org has no balance"): every role's key may move it but
        the ones a charge showed apart from each of `key_ids` (`note_apart`)."""
        keys = self._api_keys(key_ids)
        if keys is None or "balance" not in views:
            return keys
        roles = [r for r in self.config.roles.values() if isinstance(r, dict) and r.get("api_key")]
        return [str(r["api_key"]) for r in roles
                if not r.get("key_id") or not all(self.apart(r["key_id"], k) for k in key_ids)]

    def apart(self, key_id: str, other: str) -> bool:
        """A charge showed these two keys do not share a balance (`note_apart`)."""
        return frozenset((key_id, other)) in self._apart

    def note_apart(self, charged: str, unmoved: str) -> None:
        """A charge on key `charged` moved its balance and left `unmoved`'s alone: the two keys do not
        share a balance, so requests with one need not wait for a window on the other's."""
        if charged != unmoved:
            self._apart.add(frozenset((charged, unmoved)))

    def snapshot(self, key_ids: list[str], views: list[str]) -> dict[tuple[str, str], Reading]:
        """(view, key_id) → reading for every pair, fetching each distinct URL once. Reads only once
        nothing is gathered ahead in the background that could move these readings: a snapshot
        opens or closes a spend window, and no request of ours but the ones it prices may land in it."""
        self.client.quiesce(self.moved_by(key_ids, views))
        fetched: dict[tuple[str, str], Exchange] = {}
        pairs = [(view, key_id) for key_id in dict.fromkeys(key_ids) for view in views]
        readings: dict[tuple[str, str], Reading] = {}
        # One reading per URL, side by side: the readings of one snapshot are not ordered among
        # themselves, only against what is sent before and after the snapshot.
        urls: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for view, key_id in pairs:
            urls.setdefault(self._where(view, {"key_id": key_id}), []).append((view, key_id))

        def read(group: list[tuple[str, str]]) -> None:
            for view, key_id in group:
                readings[(view, key_id)] = self._lookup(view, {"key_id": key_id}, fetched)

        run_lanes([[functools.partial(read, group)] for group in urls.values()], self.client.concurrency)
        for view, key_id in pairs:  # a reading the gathering could not make (our crash): made here, as before
            if (view, key_id) not in readings:
                readings[(view, key_id)] = self._lookup(view, {"key_id": key_id}, fetched)
        return {pair: readings[pair] for pair in pairs}

    def _where(self, view: str, fields: dict[str, str]) -> tuple[str, str]:
        """The (method, URL) `_lookup` reads for this view and fields (readings of one URL share a lane)."""
        spec: dict[str, Any] = (self.section or {}).get(view) or {}
        if not spec.get("url"):
            return "", view
        return spec.get("method", "GET"), expand(spec["url"], fields)

    def _lookup(self, view: str, fields: dict[str, str],
                fetched: dict[tuple[str, str], Exchange] | None = None) -> Reading:
        spec: dict[str, Any] = (self.section or {}).get(view) or {}
        if not spec:
            return Reading(None, f"billing.{view} is not configured")
        url = expand(spec["url"], fields)
        method = spec.get("method", "GET")
        exchange = (fetched or {}).get((method, url))
        if exchange is None:
            exchange = self.client.request(method, url, api_key=self._credential(spec), label=f"oracle:{view}")
            if fetched is not None:
                fetched[(method, url)] = exchange
        where = f"billing.{view} ({exchange.describe()})"
        if exchange.status is None:
            return Reading(None, f"{where}: no answer", exchange)
        if exchange.status == 404 and "not_found_means" in spec:
            return Reading(float(spec["not_found_means"]), exchange=exchange)
        if exchange.status >= 400:
            return Reading(None, f"{where}: the oracle answered {exchange.status}", exchange)
        body = exchange.json()
        found, value = resolve_pointer(body, spec["pointer"]) if body is not NOT_JSON else (False, None)
        if not found or isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return Reading(None, f"{where}: no number at {spec['pointer']} (got {str(value)[:40] if found else 'nothing'})",
                           exchange)
        try:
            return Reading(float(value), exchange=exchange)
        except ValueError:
            return Reading(None, f"{where}: {spec['pointer']} is {str(value)[:40]!r}, not a number", exchange)

    def _credential(self, spec: dict[str, Any]) -> str | None:
        role = spec.get("role")
        if role:
            found = self.config.role(role)
            return found["api_key"] if found else None
        return (self.section or {}).get("api_key")

    def settle(self) -> None:
        """Wait for charges to show (the config's settle_s): consoles bill asynchronously."""
        if self.settle_s > 0:
            time.sleep(self.settle_s)


def same_money(a: float, b: float) -> bool:
    return abs(a - b) <= EPSILON
