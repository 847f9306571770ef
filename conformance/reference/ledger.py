"""The reference gateway's money: wallets, API keys, charges by request id, and holds.

The "never charged" requirements (CHG-*) are only meaningful against a gateway that really
bills, so the reference gateway keeps a real SQLite ledger and its billing oracle reads from it.
One in-memory connection, shared across threads behind a lock: the gateway serves a few hundred
requests per run and every statement is microseconds, so a lock costs less than a pool.

Keys are stored by SHA-256 of the token, never in clear, as a production gateway would.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TypeVar

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE wallets (
    wallet_id      TEXT PRIMARY KEY,
    balance        REAL NOT NULL,
    plan_exhausted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE keys (
    key_id            TEXT PRIMARY KEY,
    token_sha256      TEXT NOT NULL UNIQUE,
    wallet_id         TEXT NOT NULL REFERENCES wallets(wallet_id),
    label             TEXT NOT NULL,
    kind              TEXT NOT NULL DEFAULT 'secret',   -- secret | publishable | admin | test
    status            TEXT NOT NULL DEFAULT 'active',   -- active | disabled
    allowed_models    TEXT,                             -- JSON list, NULL = every model
    ip_allow          TEXT,                             -- JSON list of CIDRs, NULL = any address
    allowed_origins   TEXT,                             -- JSON list, publishable keys only
    monthly_budget    REAL,                             -- NULL = no per-key budget
    spend             REAL NOT NULL DEFAULT 0,
    daily_cap         INTEGER,                          -- billable requests per UTC day, NULL = none
    daily_used        INTEGER NOT NULL DEFAULT 0,
    daily_date        TEXT NOT NULL DEFAULT '',
    rate_limit        INTEGER,                          -- requests per window, NULL = gateway default
    concurrency_limit INTEGER
);
CREATE TABLE charges (
    request_id TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL REFERENCES keys(key_id),
    amount     REAL NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE holds (
    hold_id    TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL REFERENCES keys(key_id),
    wallet_id  TEXT NOT NULL REFERENCES wallets(wallet_id),
    amount     REAL NOT NULL,
    status     TEXT NOT NULL DEFAULT 'active',   -- active | released | captured
    created_at TEXT NOT NULL
);
CREATE INDEX holds_active ON holds(wallet_id) WHERE status = 'active';
"""

# Money is REAL in SQLite; rounding every stored amount keeps sums free of float dust
# (0.1 + 0.2 style) so an oracle read before and after a rejection compares equal.
_PLACES = 8


def _money(value: float) -> float:
    return round(value, _PLACES)


def _utc_day() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class KeyRecord:
    """Everything the request pipeline needs to know about a key, read in one query."""

    key_id: str
    wallet_id: str
    label: str
    kind: str
    status: str
    allowed_models: tuple[str, ...] | None
    ip_allow: tuple[str, ...] | None
    allowed_origins: tuple[str, ...] | None
    monthly_budget: float | None
    spend: float
    daily_cap: int | None
    daily_used: int  # already reset to 0 when the stored day is not today
    rate_limit: int | None
    concurrency_limit: int | None
    balance: float  # wallet balance minus active holds
    plan_exhausted: bool

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class Charge:
    request_id: str
    key_id: str
    amount: float
    created_at: str


_KEY_QUERY = """
SELECT k.key_id, k.wallet_id, k.label, k.kind, k.status, k.allowed_models, k.ip_allow,
       k.allowed_origins, k.monthly_budget, k.spend, k.daily_cap, k.daily_used, k.daily_date,
       k.rate_limit, k.concurrency_limit,
       w.balance - COALESCE((SELECT SUM(h.amount) FROM holds h
                             WHERE h.wallet_id = w.wallet_id AND h.status = 'active'), 0),
       w.plan_exhausted
FROM keys k JOIN wallets w ON w.wallet_id = k.wallet_id
"""


def _json_list(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(json.loads(value))


class Ledger:
    """SQLite-backed wallets / keys / charges / holds. Thread-safe; every method is one transaction."""

    def __init__(self, path: str = ":memory:") -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self.realtime_agents: set[str] | None = None  # None: any well-formed agent id exists
        self._organisation_wallet: str | None = None
        with self._lock:
            self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- provisioning -------------------------------------------------------------------------

    def create_wallet(self, balance: float, *, plan_exhausted: bool = False) -> str:
        wallet_id = "wal_" + secrets.token_hex(8)
        with self._lock:
            self._conn.execute(
                "INSERT INTO wallets (wallet_id, balance, plan_exhausted) VALUES (?, ?, ?)",
                (wallet_id, _money(balance), int(plan_exhausted)),
            )
        return wallet_id

    def organisation_wallet(self, balance: float) -> str:
        """One wallet many keys draw on, an organisation's (made on first use, `balance` then):
        a charge on any of them moves the balance of all (variant `org_balance_only`)."""
        if self._organisation_wallet is None:
            self._organisation_wallet = self.create_wallet(balance)
        return self._organisation_wallet

    def create_key(
        self,
        token: str,
        *,
        wallet_id: str,
        label: str,
        kind: str = "secret",
        status: str = "active",
        allowed_models: list[str] | None = None,
        ip_allow: list[str] | None = None,
        allowed_origins: list[str] | None = None,
        monthly_budget: float | None = None,
        spend: float = 0.0,
        daily_cap: int | None = None,
        daily_used: int = 0,
        rate_limit: int | None = None,
        concurrency_limit: int | None = None,
    ) -> str:
        """Store a key (by digest) and return its public key id."""
        key_id = "key_" + secrets.token_hex(8)
        with self._lock:
            self._conn.execute(
                "INSERT INTO keys (key_id, token_sha256, wallet_id, label, kind, status, allowed_models,"
                " ip_allow, allowed_origins, monthly_budget, spend, daily_cap, daily_used, daily_date,"
                " rate_limit, concurrency_limit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key_id,
                    token_digest(token),
                    wallet_id,
                    label,
                    kind,
                    status,
                    None if allowed_models is None else json.dumps(allowed_models),
                    None if ip_allow is None else json.dumps(ip_allow),
                    None if allowed_origins is None else json.dumps(allowed_origins),
                    monthly_budget,
                    _money(spend),
                    daily_cap,
                    daily_used,
                    _utc_day(),
                    rate_limit,
                    concurrency_limit,
                ),
            )
        return key_id

    # -- lookups ------------------------------------------------------------------------------

    def find_key(self, token: str) -> KeyRecord | None:
        """The key a presented token belongs to (any status), or None."""
        return self._one_key("WHERE k.token_sha256 = ?", token_digest(token))

    def key_by_id(self, key_id: str) -> KeyRecord | None:
        return self._one_key("WHERE k.key_id = ?", key_id)

    def _one_key(self, where: str, arg: str) -> KeyRecord | None:
        with self._lock:
            row = self._conn.execute(_KEY_QUERY + where, (arg,)).fetchone()
        if row is None:
            return None
        today = _utc_day()
        return KeyRecord(
            key_id=row[0],
            wallet_id=row[1],
            label=row[2],
            kind=row[3],
            status=row[4],
            allowed_models=_json_list(row[5]),
            ip_allow=_json_list(row[6]),
            allowed_origins=_json_list(row[7]),
            monthly_budget=row[8],
            spend=row[9],
            daily_cap=row[10],
            daily_used=row[11] if row[12] == today else 0,
            rate_limit=row[13],
            concurrency_limit=row[14],
            balance=_money(row[15]),
            plan_exhausted=bool(row[16]),
        )

    def charge_for(self, request_id: str) -> Charge | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT request_id, key_id, amount, created_at FROM charges WHERE request_id = ?", (request_id,)
            ).fetchone()
        return None if row is None else Charge(*row)

    def account(self, key_id: str) -> dict[str, object] | None:
        """What the billing oracle shows for a key: its spend and its wallet's available balance."""
        record = self.key_by_id(key_id)
        if record is None:
            return None
        return {"key_id": record.key_id, "spend": record.spend, "balance": record.balance}

    # -- money movements ----------------------------------------------------------------------

    def charge(self, request_id: str, key_id: str, amount: float) -> None:
        """Bill one served request: record it by request id, debit the wallet, add to key spend.

        Also counts the request against the key's daily cap. All in one transaction, so the
        oracle never sees a charge without its debit.
        """
        with self._lock:
            self._transaction(lambda conn: self._charge(conn, request_id, key_id, amount))

    def _transaction(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run `body(conn)` in BEGIN/COMMIT (caller holds the lock)."""
        conn = self._conn
        conn.execute("BEGIN")
        try:
            result = body(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    @staticmethod
    def _charge(conn: sqlite3.Connection, request_id: str, key_id: str, amount: float) -> None:
        amount = _money(amount)
        today = _utc_day()
        conn.execute(
            "INSERT INTO charges (request_id, key_id, amount, created_at) VALUES (?, ?, ?, ?)",
            (request_id, key_id, amount, _now()),
        )
        conn.execute(
            "UPDATE keys SET spend = ROUND(spend + ?, 8),"
            " daily_used = CASE WHEN daily_date = ? THEN daily_used + 1 ELSE 1 END, daily_date = ?"
            " WHERE key_id = ?",
            (amount, today, today, key_id),
        )
        conn.execute(
            "UPDATE wallets SET balance = ROUND(balance - ?, 8)"
            " WHERE wallet_id = (SELECT wallet_id FROM keys WHERE key_id = ?)",
            (amount, key_id),
        )

    def debit_fee(self, key_id: str, amount: float) -> None:
        """Debit a fee to a key's spend and wallet without a charge record (only a defect does this)."""
        amount = _money(amount)
        with self._lock:
            self._transaction(lambda conn: (
                conn.execute("UPDATE keys SET spend = ROUND(spend + ?, 8) WHERE key_id = ?", (amount, key_id)),
                conn.execute("UPDATE wallets SET balance = ROUND(balance - ?, 8)"
                             " WHERE wallet_id = (SELECT wallet_id FROM keys WHERE key_id = ?)", (amount, key_id)),
            ))

    def place_hold(self, key_id: str, amount: float) -> str:
        """Reserve `amount` of the key's wallet (an async task's worst case); returns the hold id."""
        hold_id = "hold_" + secrets.token_hex(8)
        with self._lock:
            self._conn.execute(
                "INSERT INTO holds (hold_id, key_id, wallet_id, amount, created_at)"
                " SELECT ?, key_id, wallet_id, ?, ? FROM keys WHERE key_id = ?",
                (hold_id, _money(amount), _now(), key_id),
            )
        return hold_id

    def release_hold(self, hold_id: str) -> bool:
        """Give a hold back untouched (task failed / cancelled / expired). False if not active."""
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE holds SET status = 'released' WHERE hold_id = ? AND status = 'active'", (hold_id,)
            )
        return cursor.rowcount == 1

    def capture_hold(self, hold_id: str, request_id: str, amount: float) -> bool:
        """Settle a hold at the real cost: close the hold and charge `amount` under `request_id`."""

        def body(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT key_id FROM holds WHERE hold_id = ? AND status = 'active'", (hold_id,)).fetchone()
            if row is None:
                return False
            conn.execute("UPDATE holds SET status = 'captured' WHERE hold_id = ?", (hold_id,))
            self._charge(conn, request_id, row[0], amount)
            return True

        with self._lock:
            return self._transaction(body)
