"""Every pure check, registered under the requirement id it judges.

Why a registry: the targeted tests and the whole-run observer must apply the same rule, and the
report must be able to say which checks back a requirement. A family module registers its checks
with `@check("ENV-1", whole_run=True)`; the observer runs `whole_run_checks()` on every
inference exchange instead of keeping its own table. The family modules register as they are
imported (`import conformance.checks` imports them all); this module imports none of them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conformance.checks.problem import Problem

if TYPE_CHECKING:
    from conformance.contract.profiles import Profile
    from conformance.transport.client import Exchange

Problems = list[Problem]


@dataclass(frozen=True)
class Check:
    requirement: str
    name: str
    function: Callable[..., Problems]
    whole_run: bool  # the observer runs it on every inference exchange of the run
    applies: Callable[[Exchange, Profile], bool] | None  # where it can read the response (None: always)

    def __call__(self, exchange: Exchange, profile: Profile) -> Problems:
        if self.applies is not None and not self.applies(exchange, profile):
            return []
        if _takes_profile(self.function):
            return self.function(exchange, profile)
        return self.function(exchange)


_REGISTRY: list[Check] = []  # filled once, at import of the family modules; never mutated after


def _takes_profile(function: Callable[..., Any]) -> bool:
    return len(inspect.signature(function).parameters) >= 2


def check(requirement: str, *, whole_run: bool = False,
          applies: Callable[[Exchange, Profile], bool] | None = None) -> Callable[[Callable[..., Problems]], Callable[..., Problems]]:
    """Register the decorated `(exchange[, profile]) -> problems` function under `requirement`. Its
    problems come back filed under `requirement` (where they name none), whoever calls it: the
    observer, replay or a suite test."""

    def register(function: Callable[..., Problems]) -> Callable[..., Problems]:
        @functools.wraps(function)
        def filed(*args: Any, **kwargs: Any) -> Problems:
            return [problem.for_requirement(requirement) for problem in function(*args, **kwargs)]

        _REGISTRY.append(Check(requirement, function.__name__, filed, whole_run, applies))
        return filed

    return register


def whole_run_checks() -> list[Check]:
    return [c for c in _REGISTRY if c.whole_run]


def all_checks() -> list[Check]:
    return list(_REGISTRY)
