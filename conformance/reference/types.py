"""The records the reference gateway's planes pass around: a rejection, an admitted call, a route.

Their own module so the planes (management, realtime, streaming, tasks, fuzz defects) import
them without importing `app.py`, which imports every plane. `Gateway` itself is imported only for
type checking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conformance.reference.ledger import KeyRecord

if TYPE_CHECKING:
    from conformance.reference.app import Gateway


@dataclass
class Reject(Exception):
    """A rejection: status, code and message as sent, plus headers to add."""

    status: int
    code: str | None
    message: str
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """One admitted request, as the serving step sees it."""

    key: KeyRecord
    request_id: str
    params: dict[str, Any]
    body: dict[str, Any] = field(default_factory=dict)  # as the client sent it (forwarded upstream)


@dataclass(frozen=True)
class Endpoint:
    """One inference route: how to validate its body (None: no body) and how to serve it."""

    method: str
    path: str
    validate: Callable[[dict[str, Any]], dict[str, Any]] | None
    serve: Callable[[Gateway, Call], Any]  # a Response, or a coroutine of one (provider mode)
    billable: bool = True
