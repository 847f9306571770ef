"""The scopes a run certifies: what the target config `claims:`, else every scope the profile has.

Each requirement belongs to one scope by what the target must offer to check it (`core`: any
gateway with keys; `billing`: an oracle; `upstream`: the fault-injecting provider; `realtime`,
`management`, `tasks`), and a test case can need more (`@pytest.mark.scope("realtime")`).
Requirements and cases of unclaimed scopes are not run and are reported `not_claimed`, never
`skipped`: a staging gateway with keys and nothing else gets an honest, scoped verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.contract.profiles import Profile
from conformance.contract.requirements import SCOPES, registry

CORE = "core"


def profile_scopes(profile: Profile) -> list[str]:
    """Every scope something of the profile needs, in SCOPES order."""
    found = {r.scope for r in registry().values() if r.applies_to(profile)}
    if any(c.plane == "realtime" for c in profile.codes):
        found.add("realtime")
    found.add(CORE)
    return [s for s in SCOPES if s in found]


@dataclass(frozen=True)
class Claims:
    claimed: tuple[str, ...]
    not_claimed: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())  # one line each: what was added or ignored, and why

    def covers(self, scopes: set[str] | frozenset[str] | list[str] | tuple[str, ...]) -> bool:
        return set(scopes) <= set(self.claimed)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"claimed": list(self.claimed), "not_claimed": list(self.not_claimed)}
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Claims:
        """The inverse of `to_dict` (a worker's copy of the controller's claims: JSON lists of strings)."""
        return cls(tuple(data["claimed"]), tuple(data["not_claimed"]), tuple(data.get("notes", ())))


def resolve_claims(declared: list[str] | None, profile: Profile) -> Claims:
    """`declared` (the target config's `claims:`, None when absent) → the run's claims."""
    scopes = profile_scopes(profile)
    if declared is None:
        return Claims(tuple(scopes), ())
    notes = []
    wanted = set(declared)
    if CORE not in wanted:
        notes.append("claims: core added (every gateway is checked on core; the target config's claims omit it)")
        wanted.add(CORE)
    foreign = [s for s in SCOPES if s in wanted and s not in scopes]
    if foreign:
        notes.append(f"claims: {', '.join(foreign)} ignored (the {profile.id} profile has no requirement of "
                     f"{'this scope' if len(foreign) == 1 else 'these scopes'})")
    return Claims(tuple(s for s in scopes if s in wanted), tuple(s for s in scopes if s not in wanted), tuple(notes))
