"""What a scenario is: one way of putting the gateway in a state, and the answer the contract expects.

Its own module so the planes' scenario modules (inference, realtime) share it without importing
each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.errors import ConformanceError


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
