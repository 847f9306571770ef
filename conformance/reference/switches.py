"""What the reference gateway's defects and clean variants share: a set of catalogue names
switched on for one gateway process, checked once at start-up.

Unknown names, or a name that does not apply to the profile, are a one-line `ConfigError`, so a
mutation or variant run never silently tests the plain gateway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from conformance.errors import ConfigError


class Switches:
    """Names from `catalogue` (name → info with `applies_to(profile_id)` and `profiles`) switched on."""

    KIND = "switch"  # the word in messages: "defect", "variant"

    def __init__(self, catalogue: Mapping[str, Any], names: Iterable[str], profile_id: str | None) -> None:
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
                raise ConfigError(f"unknown {self.KIND} {name!r}: known {self.KIND}s are {known}{self.known_suffix()}")
            if profile_id is not None and not info.applies_to(profile_id):
                only = ", ".join(info.profiles or ())
                raise ConfigError(f"{self.KIND} {name!r} applies only to profile(s) {only}, not {profile_id!r}")
            active.add(name)
        self._active = frozenset(active)

    def expand(self, name: str, profile_id: str | None) -> Iterable[str] | None:
        """The names a shorthand stands for (`all`), or None for a plain name."""
        return None

    def known_suffix(self) -> str:
        return ""

    def on(self, name: str) -> bool:
        """Is `name` switched on? A name missing from the catalogue is a programming error."""
        if name not in self._catalogue:
            raise KeyError(f"{self.KIND} {name!r} is not in the catalogue")
        return name in self._active

    @property
    def active(self) -> frozenset[str]:
        return self._active

    def __bool__(self) -> bool:
        return bool(self._active)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({sorted(self._active)!r})"
