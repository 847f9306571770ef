"""The requirement catalogue: ids, titles, scopes, and per profile the level and the basis of each.

Loaded once from `conformance/data/requirements.yaml`. Tests name their requirement with
`@pytest.mark.requirement("HDR-2")`; an id not in the catalogue is a collection error.

Levels are per profile: the same check can be a MUST where one contract says it and a SHOULD (or
suite practice) where another is silent, so there is no profile-independent `level`; ask
`Requirement.basis(profile_id)` / `level_for(profile_id)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from conformance.contract.profiles import Profile, shipped_profiles
from conformance.contract.resources import DATA_DIR
from conformance.contract.safe_yaml import load_document
from conformance.contract.schemas import validate_or_raise

GROUPS = ("ENV", "HDR", "MAP", "RTY", "CHG", "PRB", "FUZ", "SEC", "UPS")
SCOPES = ("core", "billing", "upstream", "realtime", "management", "tasks")
# Bases whose MUSTs decide the verdict; `practice` forms its own grade beside it.
CONTRACT_BASES = ("contract", "rfc")


@dataclass(frozen=True)
class Basis:
    """Why a requirement holds at `level` for one profile: the contract's words, an RFC the contract
    invokes, or (where the contract is silent) suite practice with its rationale and citation."""

    level: str
    basis: str  # contract | rfc | practice
    section: str | None = None
    quote: str | None = None
    rfc: str | None = None
    invoked_by: Mapping[str, str] | None = field(default=None, compare=False, hash=False)
    rationale: str | None = None
    cite: str | None = None

    @property
    def is_practice(self) -> bool:
        return self.basis == "practice"

    def line(self) -> str:
        """One readable line for failure text and reports."""
        if self.basis == "contract":
            if self.quote:
                return f'[{self.section}] "{self.quote}"'
            return "(as the profile declares)"
        if self.basis == "rfc":
            text = f'{self.rfc}: "{self.quote}"'
            if self.invoked_by:
                text += f' (invoked by [{self.invoked_by["section"]}] "{self.invoked_by["quote"]}")'
            return text
        return f"(beyond the contract, suite practice) {self.rationale} [{self.cite}]"

    def to_dict(self) -> dict[str, Any]:
        """The report's `basis` object: kind plus only the fields that kind carries."""
        out: dict[str, Any] = {"kind": self.basis}
        for name in ("section", "quote", "rfc", "rationale", "cite"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.invoked_by:
            out["invoked_by"] = dict(self.invoked_by)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Basis:
        return cls(
            level=raw["level"], basis=raw["basis"], section=raw.get("section"), quote=raw.get("quote"),
            rfc=raw.get("rfc"), invoked_by=raw.get("invoked_by"), rationale=raw.get("rationale"),
            cite=raw.get("cite"),
        )


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    scope: str = "core"
    applies_if: str | None = None
    planned: bool = False
    bases: Mapping[str, Basis] = field(default_factory=dict, compare=False, hash=False)
    default: Basis | None = field(default=None, compare=False, hash=False)

    @property
    def group(self) -> str:
        return self.id.split("-")[0]

    def basis(self, profile_id: str) -> Basis:
        """The profile's row, else `default` (a vendor profile). KeyError when neither exists:
        ask `applies_to` first."""
        row = self.bases.get(profile_id)
        if row is not None:
            return row
        if self.default is None or profile_id in shipped_profiles():
            raise KeyError(f"{self.id} has no basis for profile {profile_id!r}")
        return self.default

    def level_for(self, profile_id: str) -> str:
        return self.basis(profile_id).level

    def listed_for(self, profile_id: str) -> bool:
        """The catalogue gives this profile a row: its own, or `default` for a non-shipped profile id."""
        if profile_id in self.bases:
            return True
        return self.default is not None and profile_id not in shipped_profiles()

    def applies_to(self, profile: Profile) -> bool:
        if not self.listed_for(profile.id):
            return False
        if self.applies_if is None:
            return True
        return {
            "rate_limit_headers": profile.has_rate_limit_headers,
            "management": profile.has_management,
            "tasks": profile.has_tasks,
            "retry_after_on_429": profile.retry_after_on_429,
        }[self.applies_if]


@lru_cache(maxsize=1)
def registry() -> dict[str, Requirement]:
    raw = load_document(DATA_DIR / "requirements.yaml", "requirement registry")
    validate_or_raise(raw, "requirements.schema.json", "requirement registry")
    return {
        rid: Requirement(
            id=rid,
            title=entry["title"],
            scope=entry["scope"],
            applies_if=entry.get("applies_if"),
            planned=bool(entry.get("planned", False)),
            bases={pid: Basis.from_dict(row) for pid, row in entry.get("profiles", {}).items()},
            default=Basis.from_dict(entry["default"]) if "default" in entry else None,
        )
        for rid, entry in raw.items()
    }


def get(requirement_id: str) -> Requirement | None:
    return registry().get(requirement_id)
