"""Where hypothesis keeps its files during a conformance run: never the user's working directory.

Its own module because the fuzz engine draws through it and `draw_memo` reads hypothesis's
constant pool through it (hypothesis caches each module's constants on disk as it reads them).
"""

from __future__ import annotations

import os

from conformance.fuzzing import codec_table


def keep_hypothesis_out_of_cwd() -> None:
    """Hypothesis caches into `./.hypothesis/` (a constants cache, even with database=None): a
    conformance run must leave nothing in the user's working directory. Unless the user chose a
    place (HYPOTHESIS_STORAGE_DIRECTORY), it goes to the user's cache directory
    (`$XDG_CACHE_HOME` or `~/.cache`, `gateway-conformance/hypothesis-<version>`), else to a
    temporary directory removed at exit.

    Why a lasting cache: what hypothesis keeps there is derived data only (the Unicode category and
    codec tables, each source file's constants keyed by its hash; the example database is off), the
    same whatever run made it, and rebuilding it costs a run 2-5 s of CPU. The utf-8 codec table is
    seeded quickly either way (`codec_table`)."""
    global _storage_moved
    if _storage_moved:
        return
    from hypothesis.configuration import set_hypothesis_home_dir

    if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        set_hypothesis_home_dir(_cache_home() or _temporary_home())
    codec_table.seed()
    _storage_moved = True


def leave_storage_to_each_run() -> None:
    """After drawing in a fork server (`prewarm`): hypothesis's storage is chosen again by each
    forked run, from its own directory and environment, as a fresh process chooses it (the server
    chose from its own to draw)."""
    global _storage_moved
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(None)
    _storage_moved = False




def _cache_home() -> str | None:
    import hypothesis

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    home = os.path.join(base, "gateway-conformance", f"hypothesis-{hypothesis.__version__}")
    try:
        os.makedirs(home, exist_ok=True)
        probe = os.path.join(home, f".gwc-writable-{os.getpid()}")
        with open(probe, "w", encoding="utf-8"):
            pass
        os.remove(probe)
    except OSError:
        return None
    if os.path.abspath(home).startswith(os.path.abspath(os.getcwd()) + os.sep):
        return None  # a cache directory inside the working directory is still the working directory
    return home


def _temporary_home() -> str:
    import atexit
    import shutil
    import tempfile

    home = tempfile.mkdtemp(prefix="gwc-hypothesis-")
    atexit.register(shutil.rmtree, home, True)
    return home


_storage_moved = False
