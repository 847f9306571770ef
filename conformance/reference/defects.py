"""Defect switches of the reference gateway.

The suite proves it can catch a broken gateway by running against the reference gateway with one
defect switched on and checking that the requirements the defect `kills` fail. The catalogue is
data (`conformance/data/defects.yaml`) so the mutation harness, the docs and the gateway agree on
one list; the gateway asks `defects.on("name")` at the one place each behaviour lives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from conformance.contract.resources import DATA_DIR
from conformance.errors import ConfigError
from conformance.reference import switches

CATALOGUE_PATH = DATA_DIR / "defects.yaml"
ENV_VAR = "GWC_REFERENCE_DEFECTS"


@dataclass(frozen=True)
class DefectInfo(switches.Entry):
    """One catalogue entry: what breaks, which requirements must then fail, where it applies."""

    name: str
    description: str
    kills: tuple[str, ...]
    profiles: tuple[str, ...] | None  # None: applies to every profile
    may_also_fail: tuple[str, ...] = ()  # collateral the kill matrix tolerates (e.g. HDR-2 breaks RTY-2)


@lru_cache(maxsize=4)
def load_catalogue(path: Path = CATALOGUE_PATH) -> Mapping[str, DefectInfo]:
    """The defect catalogue, validated enough that a typo in it fails loudly and early."""
    catalogue: dict[str, DefectInfo] = {}
    for name, entry in switches.catalogue_entries(path, "defect").items():
        kills = entry.get("kills")
        if not isinstance(kills, list) or not kills or not all(isinstance(k, str) for k in kills):
            raise ConfigError(f"defect catalogue {path}: {name!r} needs a non-empty kills list")
        profiles = switches.profiles_of(entry, path, "defect", name)
        also = entry.get("may_also_fail", [])
        if not isinstance(also, list) or not all(isinstance(k, str) for k in also):
            raise ConfigError(f"defect catalogue {path}: {name!r} may_also_fail must be a list of requirement ids")
        catalogue[name] = DefectInfo(name, entry["description"], tuple(kills), profiles, tuple(also))
    return catalogue


def names_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """`GWC_REFERENCE_DEFECTS=a,b` → ["a", "b"] (blanks ignored)."""
    return switches.names_from_env(ENV_VAR, environ)


class Defects(switches.Switches):
    """The set of defects switched on for one gateway process (built once at start-up)."""

    kind = "defect"

    def __init__(self, names: Iterable[str] = (), profile_id: str | None = None) -> None:
        super().__init__(load_catalogue(), names, profile_id)
