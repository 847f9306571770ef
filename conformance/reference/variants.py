"""Clean variants of the reference gateway: correct behaviours that differ from its defaults.

The defects prove every requirement *can* fail; the variants prove a correct gateway that does
things differently *passes*. Each entry of `conformance/data/variants.yaml` names the RFC section
or contract sentence that allows it, so a variant the suite fails is a suite bug, never a variant
to drop. The gateway asks `variants.on("name")` at the one place each behaviour lives, exactly as
it asks `defects.on(...)`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from conformance.contract.resources import DATA_DIR
from conformance.contract.safe_yaml import load_document
from conformance.errors import ConfigError

CATALOGUE_PATH = DATA_DIR / "variants.yaml"
ENV_VAR = "GWC_REFERENCE_VARIANTS"
ALL = "all"  # `--variant all`: every variant that applies to the profile


@dataclass(frozen=True)
class VariantInfo:
    """One catalogue entry: what the gateway does differently, and why that is allowed."""

    name: str
    description: str
    allowed_by: str
    profiles: tuple[str, ...] | None  # None: applies to every profile
    verdict: str | None = None  # None: the clean reference's verdict; else the one it must get
    family: str | None = None  # alternatives to each other (one Reset format at a time)

    def applies_to(self, profile_id: str) -> bool:
        return self.profiles is None or profile_id in self.profiles


@lru_cache(maxsize=4)
def load_catalogue(path: Path = CATALOGUE_PATH) -> Mapping[str, VariantInfo]:
    """The variant catalogue, validated enough that a typo in it fails loudly and early."""
    raw = load_document(path, "variant catalogue")
    if not isinstance(raw, dict):
        raise ConfigError(f"variant catalogue {path}: expected a mapping of variant names")
    catalogue: dict[str, VariantInfo] = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("description"), str):
            raise ConfigError(f"variant catalogue {path}: {name!r} needs a description")
        if not isinstance(entry.get("allowed_by"), str) or not entry["allowed_by"].strip():
            raise ConfigError(f"variant catalogue {path}: {name!r} needs allowed_by (the RFC or contract sentence)")
        profiles = entry.get("profiles")
        if profiles is not None and (not isinstance(profiles, list) or not all(isinstance(p, str) for p in profiles)):
            raise ConfigError(f"variant catalogue {path}: {name!r} profiles must be a list of profile ids")
        verdict = entry.get("verdict")
        if verdict is not None and verdict not in ("conformant", "incomplete", "non-conformant"):
            raise ConfigError(f"variant catalogue {path}: {name!r} verdict must be conformant, incomplete or non-conformant")
        family = entry.get("family")
        if family is not None and not isinstance(family, str):
            raise ConfigError(f"variant catalogue {path}: {name!r} family must be a name")
        catalogue[str(name)] = VariantInfo(str(name), entry["description"], entry["allowed_by"],
                                           tuple(profiles) if profiles is not None else None, verdict, family)
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
    value = (environ if environ is not None else os.environ).get(ENV_VAR, "")
    return [part.strip() for part in value.split(",") if part.strip()]


class Variants:
    """The set of variants switched on for one gateway process.

    Unknown names, or a variant that does not apply to the profile, are a one-line `ConfigError`.
    The name `all` switches on every variant that applies to the profile.
    """

    def __init__(self, names: Iterable[str] = (), profile_id: str | None = None) -> None:
        self._catalogue = load_catalogue()
        active: set[str] = set()
        for name in names:
            if name == ALL:
                active.update(applicable(profile_id))
                continue
            info = self._catalogue.get(name)
            if info is None:
                known = ", ".join(sorted(self._catalogue))
                raise ConfigError(f"unknown variant {name!r}: known variants are {known} (or {ALL})")
            if profile_id is not None and not info.applies_to(profile_id):
                only = ", ".join(info.profiles or ())
                raise ConfigError(f"variant {name!r} applies only to profile(s) {only}, not {profile_id!r}")
            active.add(name)
        self._active = frozenset(active)

    def on(self, name: str) -> bool:
        """Is `name` switched on? A name missing from the catalogue is a programming error."""
        if name not in self._catalogue:
            raise KeyError(f"variant {name!r} is not in the catalogue")
        return name in self._active

    @property
    def active(self) -> frozenset[str]:
        return self._active

    def __bool__(self) -> bool:
        return bool(self._active)

    def __repr__(self) -> str:
        return f"Variants({sorted(self._active)!r})"
