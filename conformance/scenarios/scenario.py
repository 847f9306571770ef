"""What a scenario is: one way of putting the gateway in a state, and the answer the contract expects.

Its own module so the planes' scenario modules (inference, realtime) share it without importing
each other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from conformance.errors import ConformanceError

T = TypeVar("T")


class ScenarioUnavailable(ConformanceError):
    """A scenario cannot run here (missing role, billable without permission); the reason says why."""


class ScenarioInconclusive(ScenarioUnavailable):
    """The scenario ran but could not provoke its condition, and nothing says it should have (a
    burst within the suite's bound drew no 429 and the config gives no `limit`): inconclusive."""


def unprovoked_burst_reason(role_name: str, attempts: int) -> str:
    return (f"{attempts} requests with role '{role_name}' drew no 429 and the target config gives no "
            f"`limit` for it: its limit may lie above the suite's burst bound (set roles.{role_name}.limit)")


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # auth | role | path | params | realtime
    expect_status: int
    expect_code: str | None = None  # None: any code the profile allows for an open status
    role: str | None = None
    param: str | None = None  # for bad-parameter scenarios: the field at fault
    billable: bool = False
    description: str = ""


class Memo:
    """`memo(key, make)`: `make()`'s result the first time `key` is asked for, the same result after
    (a gathering lane and the test that reads it share one request; one asking while the other
    makes it waits). A raise is not kept: the next asker meets it again (a skip raised before
    anything was sent). Thread-safe."""

    def __init__(self) -> None:
        self._made: dict[Any, Any] = {}
        self._locks: dict[Any, threading.Lock] = {}
        self._guard = threading.Lock()

    def __call__(self, key: Any, make: Callable[[], T]) -> T:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._made:
                self._made[key] = make()
            result: T = self._made[key]
            return result
