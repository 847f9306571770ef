"""Clean variants of the reference gateway: correct behaviours that differ from its defaults.

The defects prove every requirement *can* fail; the variants prove a correct gateway that does
things differently *passes*. Each entry of `conformance/data/variants.yaml` names the RFC section
or contract sentence that allows it, so a variant the suite fails is a suite bug, never a variant
to drop. The gateway asks `variants.on("name")` at the one place each behaviour lives, exactly as
it asks `defects.on(...)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from conformance.contract.resources import DATA_DIR
from conformance.errors import ConfigError
from conformance.reference import switches

CATALOGUE_PATH = DATA_DIR / "variants.yaml"
ENV_VAR = "GWC_REFERENCE_VARIANTS"
ALL = "all"  # `--variant all`: every variant that applies to the profile


@dataclass(frozen=True)
class VariantInfo(switches.Entry):
    """One catalogue entry: what the gateway does differently, and why that is allowed."""

    name: str
    description: str
    allowed_by: str
    profiles: tuple[str, ...] | None  # None: applies to every profile
    verdict: str | None = None  # None: the clean reference's verdict; else the one it must get
    family: str | None = None  # alternatives to each other (one Reset format at a time)


@lru_cache(maxsize=4)
def load_catalogue(path: Path = CATALOGUE_PATH) -> Mapping[str, VariantInfo]:
    """The variant catalogue, validated enough that a typo in it fails loudly and early."""
    catalogue: dict[str, VariantInfo] = {}
    for name, entry in switches.catalogue_entries(path, "variant").items():
        if not isinstance(entry.get("allowed_by"), str) or not entry["allowed_by"].strip():
            raise ConfigError(f"variant catalogue {path}: {name!r} needs allowed_by (the RFC or contract sentence)")
        profiles = switches.profiles_of(entry, path, "variant", name)
        verdict = entry.get("verdict")
        if verdict is not None and verdict not in ("conformant", "incomplete", "non-conformant"):
            raise ConfigError(f"variant catalogue {path}: {name!r} verdict must be conformant, incomplete or non-conformant")
        family = entry.get("family")
        if family is not None and not isinstance(family, str):
            raise ConfigError(f"variant catalogue {path}: {name!r} family must be a name")
        catalogue[name] = VariantInfo(name, entry["description"], entry["allowed_by"], profiles, verdict, family)
    return catalogue


def applicable(profile_id: str | None) -> list[str]:
    """What `all` switches on: every variant that applies to `profile_id` and keeps the clean
    reference's verdict (a variant with its own `verdict` runs alone), and of each family of
    alternatives only the first, in catalogue order."""
    return family_groups(profile_id)[0]


def family_groups(profile_id: str | None) -> list[list[str]]:
    """The variants that keep the clean verdict, packed into as few runs as the families allow:
    group 0 is `all` (every plain variant and each family's first member), group i the i-th member
    of each family."""
    groups: list[list[str]] = [[]]
    position: dict[str, int] = {}
    for name, info in load_catalogue().items():
        if info.verdict is not None or not (profile_id is None or info.applies_to(profile_id)):
            continue
        index = 0
        if info.family is not None:
            index = position.get(info.family, 0)
            position[info.family] = index + 1
        while len(groups) <= index:
            groups.append([])
        groups[index].append(name)
    return groups


def alone(profile_id: str | None) -> list[str]:
    """Variants that must run by themselves (their own verdict), never in a group."""
    return [name for name, info in load_catalogue().items()
            if info.verdict is not None and (profile_id is None or info.applies_to(profile_id))]


def names_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """`GWC_REFERENCE_VARIANTS=a,b` → ["a", "b"] (blanks ignored)."""
    return switches.names_from_env(ENV_VAR, environ)


class Variants(switches.Switches):
    """The set of variants switched on for one gateway process; the name `all` switches on every
    variant that applies to the profile."""

    kind = "variant"

    def __init__(self, names: Iterable[str] = (), profile_id: str | None = None) -> None:
        super().__init__(load_catalogue(), names, profile_id)

    def expand(self, name: str, profile_id: str | None) -> list[str] | None:
        return applicable(profile_id) if name == ALL else None

    def also_known(self) -> str:
        return f" (or {ALL})"
