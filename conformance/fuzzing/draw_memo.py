"""The examples a fuzz search draws, drawn once in a process that forks suite runs.

Why: a search's examples follow from its strategy and seed alone while none fails (the gathered
search's dry run relies on that), and drawing the OpenAPI operations' bodies is the costliest
part of a run's fuzzing: ~0.7 CPU-s at 5 examples, ~1.4 at 15. The kill matrix and the
self-tests fork ~230 suite runs from warm servers; `prewarm` draws there once, and each forked
run's dry run goes through the same list instead of drawing it again. A normal run gets its
entries from a child it forks at its first test (`draw_ahead`): they are pending until the child
delivers them (or gives up), and a search asking for one waits for it meanwhile.

Only exactly the examples the run would draw: an entry is found by everything that decides the
draw (which strategy, by a key its caller builds, the seed and the number of examples) and used
only while hypothesis's pool of constants is the one it was drawn with. Hypothesis mixes into its
draws constants from the source of every local module loaded when it draws; a forked run that
has loaded a module the server had not sees another pool, and draws for itself.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable
from typing import Any

from conformance.fuzzing import storage

_DRAWN: dict[Hashable, tuple[int | None, tuple[Any, ...]]] = {}
_PENDING: dict[Hashable, threading.Event] = {}
# How long a search waits for a pending entry before it draws for itself: a hang guard only (a
# child draws a run's examples in ~1-2 CPU-s); drawing itself costs the run the same CPU.
PENDING_WAIT_S = 60.0


def entry_key(drawn_as: Hashable, seed: int, examples: int) -> Hashable:
    """An entry's key: everything that decides a draw besides the constant pool (which strategy, by
    the key its caller builds; the seed; the number of examples)."""
    return (drawn_as, seed, examples)


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


def has(key: Hashable) -> bool:
    """An entry for `key` is here or on its way (whether it will be usable is `recall`'s to say)."""
    return key in _DRAWN or key in _PENDING


def expect(keys: Iterable[Hashable]) -> None:
    """Entries for `keys` are being drawn elsewhere (`draw_ahead`): `recall` waits for them."""
    for key in keys:
        _PENDING.setdefault(key, threading.Event())


def deliver(key: Hashable, pool: int | None, values: Iterable[Any]) -> None:
    """An entry drawn elsewhere, with the constant pool it was drawn under."""
    if pool is not None:
        _DRAWN[key] = (pool, tuple(values))
    event = _PENDING.pop(key, None)
    if event is not None:
        event.set()


def give_up(keys: Iterable[Hashable]) -> None:
    """Whatever of `keys` was not delivered will not be: its searches draw for themselves."""
    for key in keys:
        event = _PENDING.pop(key, None)
        if event is not None:
            event.set()


def recall(key: Hashable) -> tuple[Any, ...] | None:
    """The examples drawn for `key`, if they are what a draw here would give now."""
    pending = _PENDING.get(key)
    if pending is not None:
        pending.wait(PENDING_WAIT_S)
    entry = _DRAWN.get(key)
    if entry is None or entry[0] != constant_pool():
        return None
    return entry[1]


def forget() -> None:
    _DRAWN.clear()
    give_up(list(_PENDING))
