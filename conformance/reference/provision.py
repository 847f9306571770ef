"""Provision every credential role of SPEC.md in the ledger and describe them as a target config.

Bare `pytest` must certify the reference gateway as `conformant`, which needs every MUST to run,
which needs every role: so each start creates one fresh random key per role (never reused across
runs, so a leaked report or log holds nothing that still works) and writes the SPEC.md target
config that points the suite at them and at the billing oracle.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from conformance.reference.ledger import Ledger
from conformance.reference.variants import Variants
from conformance.servers.faults import OK_MODEL

MIDSTREAM_FAIL_MODEL = "ref-fail-midstream"  # streams one event, then an error event (ENV-6)
MODELS = ("ref-small", "ref-large", MIDSTREAM_FAIL_MODEL)
DEFAULT_MODEL = "ref-small"
FORBIDDEN_MODEL = "ref-large"
ALLOWED_ORIGIN = "https://ok.example"
DISALLOWED_ORIGIN = "https://evil.example"
RATE_LIMIT = 3  # requests per window for the rate_limited role
CONCURRENCY_LIMIT = 2
# Documentation ranges (RFC 5737 / RFC 3849): never the loopback the suite runs from.
IP_ALLOW_LIST = ["203.0.113.0/24", "2001:db8::/32"]
STARTING_BALANCE = 100.0
KEY_BUDGET = 1.0
DAILY_CAP = 100
DAILY_CAP_RESETS_AT = "00:00Z"  # daily caps reset at midnight UTC (app.check_daily_cap)
HIGH_RATE_LIMIT = 1000  # the `high_rate_limit_unconfigured` variant: more than the suite's burst bound
AGENT_ID_MAX_CHARS = 6000  # the `agent_ids_from_config` variant: above the suite's default probe (4097), below the WebSocket server's 8 KiB request line

ROLES = (
    "valid",
    "disabled",
    "restricted",
    "ip_restricted",
    "publishable",
    "no_credit",
    "over_key_budget",
    "over_plan_quota",
    "rate_limited",
    "daily_capped",
    "concurrency_limited",
    "fuzzing",  # FUZ-3's own key: under xdist no other test charges it during the fuzz run
)
# pyai: "The org is out of prepaid credit. What to do: Add credit (or use a pyai_test_ key)": a
# test key of an org without credit is served (and never charged). Provisioned for pyai only.
TEST_KEY_ROLE = "test_key"
TEST_KEY_PREFIX = "pyai_test_"
TEST_KEY_PROFILES = ("pyai",)


def secret_key(label: str = "") -> str:
    """`sk-ref-<hex>`; with a label (the `readable_keys` variant) `sk-ref-<label>-<hex>`."""
    return "sk-ref-" + (label.replace("_", "-") + "-" if label else "") + secrets.token_hex(16)


def publishable_key(label: str = "") -> str:
    return "pk_ref_" + (label.replace("_", "-") + "-" if label else "") + secrets.token_hex(16)


# The working keys that draw on one organisation's wallet under variant `org_balance_only` (the
# others keep a wallet of their own: an empty one, an exhausted plan).
ORGANISATION_ROLES = ("valid", "rate_limited", "concurrency_limited", "restricted", "upstream")


def _role_key(ledger: Ledger, role: str, variants: Variants) -> tuple[str, str, dict[str, Any]]:
    """Create the wallet and key that put the gateway in `role`'s state → (token, key_id, extra facts)."""
    balance = 0.0 if role in ("no_credit", TEST_KEY_ROLE) else STARTING_BALANCE
    if role in ORGANISATION_ROLES and variants.on("org_balance_only"):
        wallet = ledger.organisation_wallet(balance)
    else:
        wallet = ledger.create_wallet(balance, plan_exhausted=role == "over_plan_quota")
    label = role if variants.on("readable_keys") else ""
    token = publishable_key(label) if role == "publishable" else secret_key(label)
    if role == TEST_KEY_ROLE:
        token = TEST_KEY_PREFIX + (label.replace("_", "-") + "-" if label else "") + secrets.token_hex(16)
    options: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if role == "disabled":
        options["status"] = "disabled"
    elif role == "restricted":
        options["allowed_models"] = [DEFAULT_MODEL]
        if variants.on("restricted_serves_provider_models"):  # only its forbidden models are refused
            options["allowed_models"] = [DEFAULT_MODEL, OK_MODEL]
        extra["forbidden_model"] = FORBIDDEN_MODEL
    elif role == "ip_restricted":
        options["ip_allow"] = IP_ALLOW_LIST
    elif role == "publishable":
        options["kind"] = "publishable"
        options["allowed_origins"] = [ALLOWED_ORIGIN]
        extra["allowed_origin"] = ALLOWED_ORIGIN
        extra["disallowed_origin"] = DISALLOWED_ORIGIN
    elif role == "over_key_budget":
        options["monthly_budget"] = KEY_BUDGET
        options["spend"] = KEY_BUDGET
    elif role == "rate_limited" and variants.on("high_rate_limit_unconfigured"):
        options["rate_limit"] = HIGH_RATE_LIMIT  # and no `limit` in the config
    elif role == "rate_limited":
        options["rate_limit"] = RATE_LIMIT
        extra["limit"] = RATE_LIMIT
    elif role == "daily_capped":
        options["daily_cap"] = DAILY_CAP
        options["daily_used"] = DAILY_CAP
        extra["resets_at"] = DAILY_CAP_RESETS_AT
    elif role == TEST_KEY_ROLE:
        options["kind"] = "test"  # served without credit, never charged (app.check_billing)
    elif role == "concurrency_limited":
        options["concurrency_limit"] = CONCURRENCY_LIMIT
        extra["limit"] = CONCURRENCY_LIMIT
    key_id = ledger.create_key(token, wallet_id=wallet, label=role, **options)
    return token, key_id, extra


def provider_role(ledger: Ledger, variants: Variants | None = None) -> dict[str, Any]:
    """A valid key on a wallet of its own for the UPS tests (provider mode)."""
    token, key_id, extra = _role_key(ledger, "upstream", variants if variants is not None else Variants())
    return {"api_key": token, "key_id": key_id, **extra}


def provision(
    ledger: Ledger, base_url: str, profile_id: str, *, management: bool = True, realtime: bool = True,
    variants: Variants | None = None, daily_reset_at: datetime | None = None,
) -> dict[str, Any]:
    """Create every role's key and the admin (oracle) key; return the target-config dict."""
    base_url = base_url.rstrip("/")
    variants = variants if variants is not None else Variants()
    roles: dict[str, dict[str, Any]] = {}
    for role in ROLES + ((TEST_KEY_ROLE,) if profile_id in TEST_KEY_PROFILES else ()):
        token, key_id, extra = _role_key(ledger, role, variants)
        if "resets_at" in extra and daily_reset_at is not None:
            extra["resets_at"] = daily_reset_at.isoformat().replace("+00:00", "Z")
        roles[role] = {"api_key": token, "key_id": key_id, **extra}
    admin_token = secret_key("admin" if variants.on("readable_keys") else "")
    ledger.create_key(admin_token, wallet_id=ledger.create_wallet(0.0), label="admin", kind="admin")
    keys_url = f"{base_url}/_oracle/keys/{{key_id}}"
    config: dict[str, Any] = {
        "target": base_url,
        "profile": profile_id,
        "model": DEFAULT_MODEL,
        "request_timeout_s": 10,
        "limits": {"max_requests": 5000, "max_rps": 1000, "allow_billable": True},
        "roles": roles,
        "billing": {
            "api_key": admin_token,
            "request_cost": {
                "method": "GET",
                "url": f"{base_url}/_oracle/requests/{{request_id}}",
                "pointer": "/cost",
                "not_found_means": 0,
            },
            "key_spend": {"method": "GET", "url": keys_url, "pointer": "/spend"},
            "balance": {"method": "GET", "url": keys_url, "pointer": "/balance"},
            "settle_s": 0,
        },
    }
    if variants.on("org_balance_only"):  # its console shows each key's organisation balance only
        del config["billing"]["key_spend"]
    config.update(plane_sections(base_url, management=management, realtime=realtime))
    if realtime and variants.on("agent_ids_from_config"):
        agent_id = "agent_" + secrets.token_hex(6)
        ledger.realtime_agents = {agent_id}  # only this agent exists
        config["realtime"].update({"agent_id": agent_id, "agent_id_max_chars": AGENT_ID_MAX_CHARS})
    return config


def plane_sections(base_url: str, *, management: bool, realtime: bool) -> dict[str, Any]:
    """The `realtime`, `streaming` and `management` sections for the planes the profile has."""
    sections: dict[str, Any] = {"streaming": {"midstream_error": {"model": MIDSTREAM_FAIL_MODEL}}}
    if realtime:
        ws_url = "ws" + base_url.removeprefix("http")  # http→ws, https→wss
        sections["realtime"] = {"url": f"{ws_url}/v1/realtime?agent_id={{agent_id}}", "role": "valid"}
    if management:
        sections["management"] = {
            "base_url": f"{base_url}/api",
            "role": "valid",
            "failing_requests": [
                {"method": "GET", "path": "/keys/does-not-exist", "status": 404},
                {"method": "POST", "path": "/keys", "body": {"name": 7}, "status": 400},
            ],
        }
    return sections
