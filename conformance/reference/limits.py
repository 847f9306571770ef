"""The limits step of the reference gateway: the daily cap, the rate window, concurrent sessions.

Each limit either admits the request or raises its 429 with the headers a client needs to come
back (Retry-After, the profile's rate-limit headers). Defects that bend those headers or the
limits themselves live here; how the 429 is written (its code, its status) is the dialect step's.
"""

from __future__ import annotations

import math
import secrets
import time
from datetime import datetime

from conformance.reference.clock import http_date, seconds_to_daily_reset, whole_seconds_from_now
from conformance.reference.ledger import KeyRecord
from conformance.reference.ratelimit import FixedWindowLimiter, WindowState
from conformance.reference.rejections import Rejections, Step

RATE_WINDOW_S = 1.0  # short: HDR-4 and the SDK wait a whole Retry-After, every run
DEFAULT_RATE_LIMIT = 100_000
RESET_PENALTY_S = 2  # the `retry_after_penalty` variant: Retry-After this much (plus 0-1 s jitter) past the reset
PENALTY_BOX_S = 3.0  # the `retry_after_too_short` defect: how long a refusal holds the key
DAILY_CAP_SHORT_RETRY_S = 60  # the `daily_cap_retry_after_short` defect's Retry-After
LARGE_DELTA_SECONDS = "2147483648"  # the `retry_after_large_delta` variant: past 32 bits (RFC 9111 §1.2.2)
CONCURRENCY_RETRY_AFTER_S = 1
SLOT_GRACE_S = 6.0  # the `realtime_slot_grace` variant: more than the 3 × 2 s the suite once waited at most
DEFAULT_CONCURRENCY_LIMIT = 100


class SessionTable:
    """Open realtime sessions per key. Only touched from the event loop, so no lock is needed.

    With a `grace_s` (the `realtime_slot_grace` variant) a closed session's slot stays taken that
    long, as a gateway that waits for the upstream session to wind down does.
    """

    def __init__(self, grace_s: float = 0.0) -> None:
        self.by_key: dict[str, int] = {}
        self.opened_total = 0
        self.grace_s = grace_s
        self.freeing: dict[str, list[float]] = {}  # key → when each closed slot frees

    @property
    def total(self) -> int:
        return sum(self.by_key.values())

    def held(self, key_id: str) -> int:
        now = time.monotonic()
        freeing = [t for t in self.freeing.get(key_id, []) if t > now]
        self.freeing[key_id] = freeing
        return self.by_key.get(key_id, 0) + len(freeing)

    def frees_in(self, key: KeyRecord) -> float:
        """Seconds until a slot in its grace period frees (0: none is)."""
        now = time.monotonic()
        return max(0.0, min((t - now for t in self.freeing.get(key.key_id, [])), default=0.0))

    def try_open(self, key: KeyRecord, unlimited: bool) -> bool:
        limit = key.concurrency_limit or DEFAULT_CONCURRENCY_LIMIT
        if not unlimited and self.held(key.key_id) >= limit:
            return False
        self.by_key[key.key_id] = self.by_key.get(key.key_id, 0) + 1
        self.opened_total += 1
        return True

    def close(self, key: KeyRecord) -> None:
        left = self.by_key.get(key.key_id, 0) - 1
        if left > 0:
            self.by_key[key.key_id] = left
        else:
            self.by_key.pop(key.key_id, None)
        if self.grace_s > 0:
            self.freeing.setdefault(key.key_id, []).append(time.monotonic() + self.grace_s)


class Limits(Step):
    """The per-key limits: a daily request cap, a fixed rate window, a number of realtime sessions."""

    def __init__(self, rejections: Rejections, *, window_s: float = RATE_WINDOW_S,
                 default_rate_limit: int = DEFAULT_RATE_LIMIT, daily_reset_at: datetime | None = None) -> None:
        super().__init__(rejections)
        self.limiter = FixedWindowLimiter(window_s)
        self.default_rate_limit = default_rate_limit
        self.daily_reset_at = daily_reset_at
        self.rate_headers_named = dict(rejections.profile.rate_limit_headers)
        self.sessions = SessionTable(SLOT_GRACE_S if self.variants.on("realtime_slot_grace") else 0.0)

    def check_daily_cap(self, key: KeyRecord) -> None:
        if key.daily_cap is None or key.daily_used < key.daily_cap:
            return
        wait = seconds_to_daily_reset(self.daily_reset_at)
        if self.defects.on("daily_cap_retry_after_short"):
            headers = self.retry_after(DAILY_CAP_SHORT_RETRY_S)  # as if it were the per-minute limit
        elif self.variants.on("caps_without_retry_after"):
            headers = {}  # RFC 6585 §4: a 429 "MAY include a Retry-After header"
        else:
            headers = self.retry_after(wait)
        if self.defects.on("daily_cap_should_not_retry"):
            headers["x-should-retry"] = "false"
        if headers and self.variants.on("retry_after_large_delta"):
            headers["Retry-After"] = LARGE_DELTA_SECONDS
        headers.update(self.limit_headers(WindowState(False, key.daily_cap, 0, wait), on_429=True))
        raise self.rejections.reject(
            "daily_capped", "This key has reached its daily request cap; it resets at 00:00 UTC.", headers)

    def rate_limit(self, key: KeyRecord) -> dict[str, str]:
        """Count the request; → the rate-limit headers for the response, or raise the 429."""
        state = self.limiter.hit(key.key_id, key.rate_limit or self.default_rate_limit)
        if state.allowed:
            return self.limit_headers(state)
        retry_after_s = state.retry_after_s
        if self.variants.on("retry_after_penalty"):
            # A suggested wait past the window (a penalty and jitter) that the reset header need not
            # show: the window still reopens when X-RateLimit-Reset says.
            retry_after_s += RESET_PENALTY_S + secrets.randbelow(2)
        headers = {**self.limit_headers(state, on_429=True), **self.retry_after(retry_after_s, rate_limit=True)}
        if self.defects.on("retry_after_too_short"):
            # A penalty box the Retry-After does not mention (the reset header shows it).
            self.limiter.restart(key.key_id, hold_s=PENALTY_BOX_S)
            held = self.limiter.peek(key.key_id, key.rate_limit or self.default_rate_limit)
            headers.update(self.limit_headers(WindowState(False, held.limit, 0, held.reset_s), on_429=True))
            headers.update(self.retry_after(1))
        raise self.rejections.reject(
            "rate_limited", "Rate limit reached for this key; retry after the time in Retry-After.", headers)

    def open_session(self, key: KeyRecord) -> None:
        """Take one of `key`'s realtime session slots, or raise the concurrency 429."""
        if self.sessions.try_open(key, unlimited=self.defects.on("no_concurrency_limit")):
            return
        raise self.rejections.reject(
            "concurrency_limited",
            "Too many concurrent realtime sessions for this key; close one and retry."
            if not self.variants.on("readable_keys") else "Too many concurrent realtime sessions.",
            self.retry_after(max(CONCURRENCY_RETRY_AFTER_S, math.ceil(self.sessions.frees_in(key)))),
        )

    def retry_after(self, seconds: int, rate_limit: bool = False) -> dict[str, str]:
        if self.defects.on("no_retry_after"):
            return {}
        seconds = max(1, seconds)
        if self.defects.on("retry_after_not_delta_seconds"):
            return {"Retry-After": f"{seconds:.1f}"}  # a float, as str(float) writes it
        form = next((f for f in ("imf_fixdate", "rfc850", "asctime") if self.variants.on(f"retry_after_{f}")), None)
        if rate_limit and form is not None:
            return {"Retry-After": http_date(seconds, form)}
        return {"Retry-After": str(seconds)}

    def limit_headers(self, state: WindowState, on_429: bool = False) -> dict[str, str]:
        names = self.rate_headers_named
        if on_429 and self.defects.on("no_rate_limit_headers"):
            return {}
        headers: dict[str, str] = {}
        if self.variants.on("ietf_ratelimit_fields"):  # draft-ietf-httpapi-ratelimit-headers
            headers["RateLimit-Policy"] = f'"default";q={state.limit};w={max(1, math.ceil(self.limiter.window_s))}'
            headers["RateLimit"] = f'"default";r={state.remaining};t={state.reset_s}'
        remaining = state.remaining
        if self.defects.on("remaining_exceeds_limit"):
            remaining = state.limit + 5
        if on_429 and not state.allowed and self.defects.on("remaining_nonzero_on_429"):
            remaining = state.limit  # the next window's quota, reported while this one refuses
        values = {"limit": state.limit, "remaining": remaining, "reset": self.reset_value(state.reset_s)}
        headers.update({names[k]: str(v) for k, v in values.items() if k in names})
        return headers

    def reset_value(self, seconds: int) -> str:
        """X-RateLimit-Reset in the format the `reset_*` variants pick (default: delta seconds)."""
        at = whole_seconds_from_now(seconds)
        if self.variants.on("reset_epoch_seconds"):
            return str(int(at.timestamp()))
        if self.variants.on("reset_rfc3339"):
            return at.isoformat().replace("+00:00", "Z")
        if self.variants.on("reset_http_date"):
            return http_date(seconds, "imf_fixdate")
        if self.variants.on("reset_duration"):
            return f"{seconds // 60}m{seconds % 60}s" if seconds >= 60 else f"{seconds}s"
        return str(seconds)

    def peek_headers(self, key: KeyRecord) -> dict[str, str]:
        """The rate-limit headers of a refusal before the limiter counted the request (auth, origin, IP)."""
        if not self.rate_headers_named and not self.variants.on("ietf_ratelimit_fields"):
            return {}
        return self.limit_headers(self.limiter.peek(key.key_id, key.rate_limit or self.default_rate_limit))
