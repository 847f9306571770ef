"""Defect switches of the reference gateway.

The suite proves it can catch a broken gateway by running against the reference gateway with one
defect switched on and checking that the requirements the defect `kills` fail. The catalogue is
data (`conformance/data/defects.yaml`) so the mutation harness, the docs and the gateway agree on
one list; the gateway asks `defects.on("name")` at the one place each behaviour lives.
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

CATALOGUE_PATH = DATA_DIR / "defects.yaml"
ENV_VAR = "GWC_REFERENCE_DEFECTS"


@dataclass(frozen=True)
class DefectInfo:
    """One catalogue entry: what breaks, which requirements must then fail, where it applies."""

    name: str
    description: str
    kills: tuple[str, ...]
    profiles: tuple[str, ...] | None  # None: applies to every profile
    may_also_fail: tuple[str, ...] = ()  # collateral the kill matrix tolerates (e.g. HDR-2 breaks RTY-2)

    def applies_to(self, profile_id: str) -> bool:
        return self.profiles is None or profile_id in self.profiles


@lru_cache(maxsize=4)
def load_catalogue(path: Path = CATALOGUE_PATH) -> Mapping[str, DefectInfo]:
    """The defect catalogue, validated enough that a typo in it fails loudly and early."""
    raw = load_document(path, "defect catalogue")
    if not isinstance(raw, dict):
        raise ConfigError(f"defect catalogue {path}: expected a mapping of defect names")
    catalogue: dict[str, DefectInfo] = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("description"), str):
            raise ConfigError(f"defect catalogue {path}: {name!r} needs a description")
        kills = entry.get("kills")
        if not isinstance(kills, list) or not kills or not all(isinstance(k, str) for k in kills):
            raise ConfigError(f"defect catalogue {path}: {name!r} needs a non-empty kills list")
        profiles = entry.get("profiles")
        if profiles is not None and (not isinstance(profiles, list) or not all(isinstance(p, str) for p in profiles)):
            raise ConfigError(f"defect catalogue {path}: {name!r} profiles must be a list of profile ids")
        also = entry.get("may_also_fail", [])
        if not isinstance(also, list) or not all(isinstance(k, str) for k in also):
            raise ConfigError(f"defect catalogue {path}: {name!r} may_also_fail must be a list of requirement ids")
        catalogue[str(name)] = DefectInfo(
            name=str(name),
            description=entry["description"],
            kills=tuple(kills),
            profiles=tuple(profiles) if profiles is not None else None,
            may_also_fail=tuple(also),
        )
    return catalogue


def names_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """`GWC_REFERENCE_DEFECTS=a,b` → ["a", "b"] (blanks ignored)."""
    value = (environ if environ is not None else os.environ).get(ENV_VAR, "")
    return [part.strip() for part in value.split(",") if part.strip()]


class Defects:
    """The set of defects switched on for one gateway process.

    Built once at start-up: unknown names, or a defect that does not apply to the profile, are a
    one-line `ConfigError` so a mutation run never silently tests a healthy gateway.
    """

    def __init__(self, names: Iterable[str] = (), profile_id: str | None = None) -> None:
        self._catalogue = load_catalogue()
        active: set[str] = set()
        for name in names:
            info = self._catalogue.get(name)
            if info is None:
                known = ", ".join(sorted(self._catalogue))
                raise ConfigError(f"unknown defect {name!r}: known defects are {known}")
            if profile_id is not None and not info.applies_to(profile_id):
                only = ", ".join(info.profiles or ())
                raise ConfigError(f"defect {name!r} applies only to profile(s) {only}, not {profile_id!r}")
            active.add(name)
        self._active = frozenset(active)

    def on(self, name: str) -> bool:
        """Is `name` switched on? A name missing from the catalogue is a programming error."""
        if name not in self._catalogue:
            raise KeyError(f"defect {name!r} is not in the catalogue")
        return name in self._active

    @property
    def active(self) -> frozenset[str]:
        return self._active

    def __bool__(self) -> bool:
        return bool(self._active)

    def __repr__(self) -> str:
        return f"Defects({sorted(self._active)!r})"
