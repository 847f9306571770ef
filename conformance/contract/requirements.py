"""The requirement registry: ids, levels, titles and the seed rule each one enforces.

Loaded once from `conformance/data/requirements.yaml`. Tests name their requirement with
`@pytest.mark.requirement("HDR-2")`; an id not in the registry is a collection error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from conformance.contract.profiles import Profile
from conformance.contract.resources import DATA_DIR
from conformance.contract.safe_yaml import load_document
from conformance.contract.schemas import validate_or_raise

GROUPS = ("ENV", "HDR", "MAP", "RTY", "CHG", "PRB", "FUZ", "SEC")


@dataclass(frozen=True)
class Requirement:
    id: str
    level: str
    title: str
    applies_if: str | None = None
    planned: bool = False
    rules: dict[str, dict[str, str]] = field(default_factory=dict, compare=False, hash=False)

    @property
    def group(self) -> str:
        return self.id.split("-")[0]

    def applies_to(self, profile: Profile) -> bool:
        if self.applies_if is None:
            return True
        return {
            "rate_limit_headers": profile.has_rate_limit_headers,
            "management": profile.has_management,
            "tasks": profile.has_tasks,
            "retry_after_on_429": profile.retry_after_on_429,
        }[self.applies_if]

    def rule_for(self, profile_id: str) -> str | None:
        """`[Rate limits] "On a rate limit you get 429 …"`: the seed sentence this enforces (None
        where the contract says nothing on it: see `rationale_for`)."""
        rule = self.rules.get(profile_id)
        if not rule or "quote" not in rule:
            return None
        return f'[{rule["section"]}] "{rule["quote"]}"'

    def rationale_for(self, profile_id: str) -> str | None:
        """Why the suite checks this where the contract is silent on it (never dressed up as a quote)."""
        rule = self.rules.get(profile_id)
        return rule.get("silent") if rule else None

    def basis_for(self, profile_id: str) -> str:
        """One line for a reader: the contract sentence, or that the contract says nothing and why it is checked."""
        quoted = self.rule_for(profile_id)
        if quoted:
            return quoted
        why = self.rationale_for(profile_id) or self.title
        return f"(the contract says nothing on this) {why}"


@lru_cache(maxsize=1)
def registry() -> dict[str, Requirement]:
    raw = load_document(DATA_DIR / "requirements.yaml", "requirement registry")
    validate_or_raise(raw, "requirements.schema.json", "requirement registry")
    return {
        rid: Requirement(
            id=rid,
            level=entry["level"],
            title=entry["title"],
            applies_if=entry.get("applies_if"),
            planned=bool(entry.get("planned", False)),
            rules=entry.get("rules", {}),
        )
        for rid, entry in raw.items()
    }


def get(requirement_id: str) -> Requirement | None:
    return registry().get(requirement_id)
