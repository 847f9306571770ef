"""Profiles: a gateway's published error contract as data.

A profile names the envelope schema, where the code / message / param live in it, the code
catalogue (code → status, retry rule, charged or not, the role that triggers it), the request-id
and rate-limit headers, and the management-plane shape. It is validated against
`schemas/profile.schema.json` when loaded, so a vendor's typo stops the run with one line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from conformance.contract.resources import PROFILES_DIR
from conformance.contract.safe_yaml import load_document
from conformance.contract.schemas import validate_or_raise, validator
from conformance.errors import ConfigError

# `unstated`: the contract gives the code no retry rule (pyai's insufficient_quota says only
# "Upgrade the plan."): the suite then asks for no retry signal either way (RTY-1, RTY-2 skip it)
# and RTY-3 checks only the SDK's classification, never its retry decision.
RETRY_RULES = ("never", "backoff", "wait", "wait_reset", "unstated")
PROMISED_RETRY_RULES = ("backoff", "wait", "wait_reset")
# HTTP-layer refusals (RFC 9110 §15.5.7 406, §15.5.11 410, §15.5.12 411, §15.5.15 414, RFC 6585 §5
# 431): what an HTTP server in front of a gateway answers before any contract logic runs. A profile
# that catalogues no code for one leaves its code open (any string or null).
PROTOCOL_STATUSES = frozenset({406, 410, 411, 414, 431})


@dataclass(frozen=True)
class Code:
    code: str
    status: int
    retry: str  # one of RETRY_RULES
    charged: bool
    trigger: str  # no_credentials | request | forbidden_model | disallowed_origin | burst | realtime_agent_id | realtime_concurrency
    role: str | None = None
    plane: str = "inference"  # inference | realtime
    meaning: str = ""
    action: str = ""

    @property
    def retryable(self) -> bool:
        return self.retry != "never"

    @property
    def promises_retry(self) -> bool:
        """The contract tells clients to retry (after a back-off, a wait or the reset)."""
        return self.retry in PROMISED_RETRY_RULES


@dataclass(frozen=True)
class StatusRule:
    status: str  # "400", "404", "5xx"
    retry: str
    charged: bool
    meaning: str = ""

    def matches(self, status: int) -> bool:
        if self.status.endswith("xx"):
            return str(status)[0] == self.status[0]
        return int(self.status) == status


@dataclass(frozen=True)
class Profile:
    id: str
    version: str
    title: str
    path: Path
    sha256: str
    envelope_schema: str
    code_pointer: str
    message_pointer: str
    param_pointer: str | None
    open_statuses: frozenset[int]
    request_id_header: str
    retry_after_on_429: bool  # HDR-2 applies only where the contract promises Retry-After on 429
    rate_limit_headers: dict[str, str]
    unauthorized_code: str
    codes: tuple[Code, ...]
    open_status_rules: tuple[StatusRule, ...]
    management: dict[str, Any] | None
    tasks: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False, compare=False, hash=False)
    # Choices a contract may make, each with the default a contract that says nothing gets:
    rate_limit_reset_format: str = "any"  # headers.rate_limit_reset_format (HDR-3)
    stream_done: bool = False  # streaming.done_sentinel: success streams end with data: [DONE] (ENV-6)
    v1_prefix_strict: bool = False  # paths.v1_prefix_strict: a missing /v1 is an unknown path (MAP-4)
    param_names_offender: bool = False  # envelope.param_names_offender: bad params name the field (MAP-5)
    # headers.retry_after_means_retry: a Retry-After on a code whose rule is "never" invites a retry
    # (RTY-1). True where the contract says "don't retry"; mindproxy never does, so there a
    # Retry-After (e.g. on api_key_quota_exceeded, pointing at the monthly reset) is information.
    retry_after_means_retry: bool = True

    def charged(self, code: str | None, status: int) -> bool:
        """Whether the contract lets this rejection be charged: its catalogued code, else the
        open-status rule for its status, says `charged: true` (CHG-1..4 then do not apply)."""
        entry = self.code(code) if isinstance(code, str) else None
        if entry is not None:
            return entry.charged
        return any(rule.charged for rule in self.open_status_rules if rule.matches(status))

    def error_code(self, body: Any) -> tuple[bool, Any]:
        """The error code in a parsed error body, at the envelope's code pointer → (found, value).
        One reading for the checks (ENV-2) and the scenarios that wait for a code."""
        if not isinstance(body, dict):
            return False, None
        return resolve_pointer(body, self.code_pointer)

    def code(self, name: str) -> Code | None:
        return next((c for c in self.codes if c.code == name), None)

    def codes_for_status(self, status: int) -> list[Code]:
        return [c for c in self.codes if c.status == status]

    def is_open_status(self, status: int) -> bool:
        """Whether the code may be any string or null at `status`: the profile's open statuses,
        5xx when it opens any, and the protocol statuses it catalogues no code for."""
        if status in PROTOCOL_STATUSES and not self.codes_for_status(status):
            return True
        return status in self.open_statuses or (500 <= status <= 599 and any(
            s >= 500 for s in self.open_statuses
        ))

    def inference_codes(self) -> list[Code]:
        return [c for c in self.codes if c.plane == "inference"]

    @property
    def has_management(self) -> bool:
        return self.management is not None

    @property
    def has_tasks(self) -> bool:
        return self.tasks is not None

    @property
    def has_rate_limit_headers(self) -> bool:
        return bool(self.rate_limit_headers)

    def summary(self) -> dict[str, str]:
        return {"id": self.id, "version": self.version, "sha256": self.sha256}


def shipped_profiles() -> dict[str, Path]:
    return {p.stem: p for p in sorted(PROFILES_DIR.glob("*.yaml"))}


def resolve_profile_path(ref: str) -> Path:
    """A shipped id (`pyai`) or a path to a vendor's file."""
    shipped = shipped_profiles()
    if ref in shipped:
        return shipped[ref]
    candidate = Path(ref).expanduser()
    if candidate.suffix in (".yaml", ".yml", ".json") or candidate.exists():
        if not candidate.is_file():
            raise ConfigError(f"profile file {candidate} does not exist")
        return candidate
    names = ", ".join(shipped) or "none"
    raise ConfigError(f"unknown profile {ref!r}: shipped profiles are {names}, or give a path to a profile file")


def load_profile(ref: str) -> Profile:
    return _load_profile(str(resolve_profile_path(ref).resolve()))


@lru_cache(maxsize=16)
def _load_profile(path_str: str) -> Profile:
    path = Path(path_str)
    raw = load_document(path, "profile")
    validate_or_raise(raw, "profile.schema.json", f"profile {path}")
    envelope = raw["envelope"]
    validator(envelope["schema"])  # an unknown envelope schema is a one-line error now, not mid-run
    if raw.get("management"):
        validator(raw["management"]["schema"])
    headers = raw["headers"]
    codes = tuple(
        Code(
            code=c["code"],
            status=int(c["status"]),
            retry=c["retry"],
            charged=bool(c.get("charged", False)),
            trigger=c["trigger"],
            role=c.get("role"),
            plane=c.get("plane", "inference"),
            meaning=c.get("meaning", ""),
            action=c.get("action", ""),
        )
        for c in raw["codes"]
    )
    seen: set[str] = set()
    for c in codes:
        if c.code in seen:
            raise ConfigError(f"profile {path}: code {c.code!r} is catalogued twice")
        seen.add(c.code)
    if raw["unauthorized_code"] not in seen:
        raise ConfigError(f"profile {path}: unauthorized_code {raw['unauthorized_code']!r} is not in the catalogue")
    return Profile(
        id=raw["id"],
        version=str(raw["version"]),
        title=raw.get("title", raw["id"]),
        path=path,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        envelope_schema=envelope["schema"],
        code_pointer=envelope["code"],
        message_pointer=envelope["message"],
        param_pointer=envelope.get("param"),
        open_statuses=frozenset(int(s) for s in envelope.get("open_statuses", [])),
        request_id_header=headers["request_id"],
        retry_after_on_429=bool(headers.get("retry_after_on_429", True)),
        rate_limit_headers=dict(headers.get("rate_limit") or {}),
        unauthorized_code=raw["unauthorized_code"],
        codes=codes,
        open_status_rules=tuple(
            StatusRule(str(r["status"]), r["retry"], bool(r.get("charged", False)), r.get("meaning", ""))
            for r in raw.get("open_status_rules", [])
        ),
        management=raw.get("management"),
        tasks=raw.get("tasks"),
        raw=raw,
        rate_limit_reset_format=headers.get("rate_limit_reset_format", "any"),
        stream_done=bool((raw.get("streaming") or {}).get("done_sentinel", False)),
        v1_prefix_strict=bool((raw.get("paths") or {}).get("v1_prefix_strict", False)),
        param_names_offender=bool(envelope.get("param_names_offender", False)),
        retry_after_means_retry=bool(headers.get("retry_after_means_retry", True)),
    )


def resolve_pointer(document: Any, pointer: str) -> tuple[bool, Any]:
    """RFC 6901 lookup → (found, value). Errors in bodies are data, not exceptions."""
    if pointer in ("", "/"):
        return True, document
    current = document
    for token in pointer.lstrip("/").split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        else:
            return False, None
    return True, current
