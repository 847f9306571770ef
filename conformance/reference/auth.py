"""The authentication step of the reference gateway: who is calling, and from where.

The API key from the Authorization header (MAP-2's 401 before anything else is read), then the two
refusals that depend only on the key and the connection: a publishable key's origin, a key's IP
allow-list. The defects here bend who is let in (a disabled key served, any scheme read as Bearer,
a key echoed into the 401); how the refusal is written is the dialect step's (`Rejections`).
`HTTPConnection` rather than `Request`: the realtime plane authenticates WebSocket handshakes too.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress

from starlette.requests import HTTPConnection

from conformance.reference.ledger import KeyRecord, Ledger
from conformance.reference.rejections import Rejections, Step
from conformance.reference.types import Reject

UNAUTHORIZED_MESSAGE = "Invalid or missing API key."
DISABLED_MESSAGE = "This API key has been disabled."


@functools.lru_cache(maxsize=64)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def basic_user(credentials: str) -> str:
    """The user name of a Basic credential (RFC 7617 §2: base64 of `user:password`), "" if unreadable:
    the `basic_user_key` variant reads the key there, as Stripe does."""
    try:
        return base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")[0]
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""


def guest_key() -> KeyRecord:
    """What `unknown_key_accepted` serves an unknown token as: a key with no limits and no wallet."""
    return KeyRecord(key_id="key_guest", wallet_id="wal_guest", label="guest", kind="secret", status="active",
                     allowed_models=None, ip_allow=None, allowed_origins=None, monthly_budget=None, spend=0.0,
                     daily_cap=None, daily_used=0, rate_limit=None, concurrency_limit=None, balance=1_000_000.0,
                     plan_exhausted=False)


def bearer_token(connection: HTTPConnection) -> str:
    """The token after "Bearer " (any scheme, in fact), "" when there is none."""
    return (connection.headers.get("authorization") or "").strip().partition(" ")[2].strip()


class Authentication(Step):
    """The key a request presents, checked against the ledger, its origin and its IP allow-list."""

    def __init__(self, rejections: Rejections, ledger: Ledger) -> None:
        super().__init__(rejections)
        self.ledger = ledger

    def unauthorized(self, token: str | None = None, message: str = UNAUTHORIZED_MESSAGE) -> Reject:
        if token and self.defects.on("echo_key_in_401"):
            message = f"Incorrect API key provided: {token}. You can find your API key in the console."
        headers: dict[str, str] = {}
        if token and token.isascii() and token.isprintable() and self.defects.on("key_in_www_authenticate"):
            headers["WWW-Authenticate"] = f'Bearer error="invalid_token", error_description="unknown API key {token}"'
        return self.rejections.reject("unauthorized", message, headers)

    def authenticate(self, connection: HTTPConnection) -> KeyRecord:
        """The caller's active key; raises the 401 (or what a defect makes of it) otherwise."""
        header = connection.headers.get("authorization")
        if header is None:
            if self.defects.on("no_auth_is_403"):
                raise Reject(403, self.rejections.dialect.condition("unauthorized").code,
                             "Access denied: no API key was sent.")
            if self.defects.on("missing_auth_header_422"):  # a web framework's required-header validation
                raise self.rejections.bad_request("missing_parameter", "Field required: header 'authorization'.",
                                                  status=422)
            raise self.unauthorized()
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() == "basic" and self.variants.on("basic_user_key"):
            scheme, token = "bearer", basic_user(token)
        elif scheme and self.defects.on("any_scheme_token"):
            scheme = "bearer"  # the token after whatever scheme is read as the key
        if scheme.lower() != "bearer":
            if scheme and self.defects.on("wrong_scheme_accepted_as_400"):
                raise self.rejections.bad_request("bad_auth_scheme", "Unsupported authorization scheme; use Bearer.")
            raise self.unauthorized()
        if not token or len(token.split(None, 1)) != 1:
            raise self.unauthorized(token)
        key = self.ledger.find_key(token)
        if key is None and self.defects.on("unknown_key_accepted") and token.startswith(("sk-", "pk_")):
            return guest_key()  # a key-cache miss that fails open
        if key is None or key.kind == "admin":
            raise self.unauthorized(token)
        if not key.active and not self.defects.on("disabled_key_served"):
            if self.defects.on("disabled_key_distinct"):
                raise self.rejections.reject("unauthorized", DISABLED_MESSAGE)
            raise self.unauthorized(token)
        return key

    def authenticate_admin(self, connection: HTTPConnection) -> None:
        """The oracle routes' check: an active admin key, else 401."""
        header = connection.headers.get("authorization") or ""
        scheme, _, token = header.strip().partition(" ")
        key = self.ledger.find_key(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if key is None or key.kind != "admin" or not key.active:
            raise self.rejections.reject("unauthorized", UNAUTHORIZED_MESSAGE)

    def check_origin(self, connection: HTTPConnection, key: KeyRecord) -> None:
        if key.kind != "publishable":
            return
        allowed = () if self.defects.on("every_origin_refused") else (key.allowed_origins or ())
        if connection.headers.get("origin") not in allowed:
            raise self.rejections.reject("disallowed_origin", "This publishable key may not be used from this origin.")

    def check_ip(self, connection: HTTPConnection, key: KeyRecord) -> None:
        if key.ip_allow is None:
            return
        host = connection.client.host if connection.client else ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is None or not any(address in net for net in _networks(key.ip_allow)):
            if self.variants.on("ip_message_names_caller"):
                raise self.rejections.reject("ip_restricted", f"Requests from {host} are not allowed for this key; "
                                                              "add the address to the key's allow-list.")
            raise self.rejections.reject("ip_restricted", "Requests from this IP address are not allowed for this key.")
