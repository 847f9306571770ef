"""What the reference gateway's defects and clean variants have in common: a YAML catalogue of named
switches, each maybe limited to some profiles, and the set switched on for one gateway process.

`Defects` (defects.py) and `Variants` (variants.py) differ only in their catalogue's fields and in
`all`; the loading checks, the environment variable and `on()` live here once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from conformance.contract.safe_yaml import load_document
from conformance.errors import ConfigError


class Entry:
    """What every catalogue entry (`DefectInfo`, `VariantInfo`) has: the profiles it applies to."""

    profiles: tuple[str, ...] | None  # None: applies to every profile

    def applies_to(self, profile_id: str) -> bool:
        return self.profiles is None or profile_id in self.profiles


def catalogue_entries(path: Path, kind: str) -> dict[str, dict[str, Any]]:
    """The catalogue's name → entry mapping, each entry a mapping with a description."""
    raw = load_document(path, f"{kind} catalogue")
    if not isinstance(raw, dict):
        raise ConfigError(f"{kind} catalogue {path}: expected a mapping of {kind} names")
    for name, entry in raw.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("description"), str):
            raise ConfigError(f"{kind} catalogue {path}: {name!r} needs a description")
    return {str(name): entry for name, entry in raw.items()}


def profiles_of(entry: dict[str, Any], path: Path, kind: str, name: str) -> tuple[str, ...] | None:
    """The entry's `profiles` list (None: every profile)."""
    profiles = entry.get("profiles")
    if profiles is not None and (not isinstance(profiles, list) or not all(isinstance(p, str) for p in profiles)):
        raise ConfigError(f"{kind} catalogue {path}: {name!r} profiles must be a list of profile ids")
    return tuple(profiles) if profiles is not None else None


def names_from_env(env_var: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """`VAR=a,b` → ["a", "b"] (blanks ignored)."""
    value = (environ if environ is not None else os.environ).get(env_var, "")
    return [part.strip() for part in value.split(",") if part.strip()]


class Switches:
    """The switches on for one gateway process, checked against the catalogue once, at start-up:
    unknown names, or a switch that does not apply to the profile, are a one-line `ConfigError` so
    a run never silently tests another gateway than the one it names."""

    kind: ClassVar[str]  # "defect", "variant": what the messages call one

    def __init__(self, catalogue: Mapping[str, Entry], names: Iterable[str], profile_id: str | None) -> None:
        self._catalogue = catalogue
        active: set[str] = set()
        for name in names:
            expanded = self.expand(name, profile_id)
            if expanded is not None:
                active.update(expanded)
                continue
            info = catalogue.get(name)
            if info is None:
                known = ", ".join(sorted(catalogue))
                raise ConfigError(f"unknown {self.kind} {name!r}: known {self.kind}s are {known}{self.also_known()}")
            if profile_id is not None and not info.applies_to(profile_id):
                only = ", ".join(info.profiles or ())
                raise ConfigError(f"{self.kind} {name!r} applies only to profile(s) {only}, not {profile_id!r}")
            active.add(name)
        self._active = frozenset(active)

    def expand(self, name: str, profile_id: str | None) -> Iterable[str] | None:
        """The switches a collective name stands for (None: `name` is a switch's own name)."""
        return None

    def also_known(self) -> str:
        """What the unknown-name message lists besides the catalogue's names."""
        return ""

    def on(self, name: str) -> bool:
        """Is `name` switched on? A name missing from the catalogue is a programming error."""
        if name not in self._catalogue:
            raise KeyError(f"{self.kind} {name!r} is not in the catalogue")
        return name in self._active

    @property
    def active(self) -> frozenset[str]:
        return self._active

    def __bool__(self) -> bool:
        return bool(self._active)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({sorted(self._active)!r})"
