"""The examples a fuzz search draws, drawn once in a process that forks suite runs.

Why: a search's examples follow from its strategy and seed alone while none fails (the gathered
search's dry run relies on that), and drawing the OpenAPI operations' bodies is the costliest
part of a run's fuzzing: ~0.7 CPU-s at 5 examples, ~1.4 at 15. The kill matrix and the
self-tests fork ~230 suite runs from warm servers; `prewarm` draws there once, and each forked
run's dry run goes through the same list instead of drawing it again. A normal run never has an
entry, and draws as before.

Only exactly the examples the run would draw: an entry is found by everything that decides the
draw (which strategy, by a key its caller builds, the seed and the number of examples) and used
only while hypothesis's pool of constants is the one it was drawn with. Hypothesis mixes into its
draws constants from the source of every local module loaded when it draws; a forked run that
has loaded a module the server had not sees another pool, and draws for itself.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from conformance.fuzzing import storage

_DRAWN: dict[Hashable, tuple[int | None, tuple[Any, ...]]] = {}


def constant_pool() -> int | None:
    """A fingerprint of the constants hypothesis mixes into its draws here and now (None: this
    hypothesis keeps no such pool where we look, so an entry is never trusted)."""
    try:
        from hypothesis.internal.conjecture.providers import _get_local_constants
    except ImportError:  # pragma: no cover - another hypothesis: no memo, draws as always
        return None
    storage.keep_hypothesis_out_of_cwd()  # reading a module's constants writes them to hypothesis's cache
    pool = _get_local_constants()
    return hash(tuple(tuple(getattr(pool, kind, ())) for kind in ("integers", "floats", "bytes", "strings")))


def remember(key: Hashable, values: list[Any]) -> None:
    """Keep `values`, drawn just now in this process, for the processes forked from it."""
    pool = constant_pool()
    if pool is not None:
        _DRAWN[key] = (pool, tuple(values))


def recall(key: Hashable) -> tuple[Any, ...] | None:
    """The examples drawn for `key`, if they are what a draw here would give now."""
    entry = _DRAWN.get(key)
    if entry is None or entry[0] != constant_pool():
        return None
    return entry[1]


def forget() -> None:
    _DRAWN.clear()
