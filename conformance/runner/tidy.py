"""A conformance run leaves nothing behind in the user's directory and prints no noise about our
own package: `pytest --pyargs conformance.suite` from anywhere behaves as `gateway-conformance run`.

- `.pytest_cache/`: the repository's ini file says `-p no:cacheprovider`, `gateway-conformance run`
  passes it, but a `pytest --pyargs conformance.suite` outside the repository reads no ini file of
  ours, so the cache provider wrote `.pytest_cache/` into the user's working directory. A run whose
  arguments reach the suite blocks it before it is configured (it writes only at session end).
- `PytestAssertRewriteWarning: Module already imported so cannot be rewritten; conformance`: when
  something imports `conformance` before pytest marks the installed plugin's modules for rewriting
  (pytest.main called from a process that imported us), pytest records that warning before any
  plugin of ours can filter it. The suite's modules are rewritten anyway; the warning about the
  package itself is noise, so the session start takes it back out of the terminal's tally.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

REWRITE_NOTICE = "Module already imported so cannot be rewritten"


def block_cache_provider(config: pytest.Config) -> None:
    """As `-p no:cacheprovider` would (it blocks stepwise too, which writes to the same cache)."""
    if not config.pluginmanager.is_blocked("cacheprovider"):
        config.pluginmanager.consider_pluginarg("no:cacheprovider")


def drop_own_rewrite_warnings(config: pytest.Config) -> None:
    """Remove the config-time rewrite warnings about `conformance` modules from the terminal's tally."""
    drop_rewrite_warnings(config, lambda name: name == "conformance" or name.startswith("conformance."))


def drop_rewrite_warnings(config: pytest.Config, about: Callable[[str], bool]) -> None:
    """Remove the config-time rewrite warnings about the modules `about` accepts from the terminal's
    tally (also for `conformance.forkrun`: the packages a fork server imported before the run)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    stats: dict[str, list[Any]] = getattr(reporter, "stats", None) or {}
    warnings = stats.get("warnings")
    if not warnings:
        return
    kept = [w for w in warnings if not _rewrite_warning_about(str(getattr(w, "message", "")), about)]
    if len(kept) != len(warnings):
        warnings[:] = kept
        if not kept:
            del stats["warnings"]


def _rewrite_warning_about(message: str, about: Callable[[str], bool]) -> bool:
    """`…: PytestAssertRewriteWarning: Module already imported so cannot be rewritten; conformance` (and
    the source line pytest adds below it): one module name, one `about` accepts."""
    if REWRITE_NOTICE not in message:
        return False
    words = message.split(REWRITE_NOTICE, 1)[1].lstrip(";: ").split()
    return bool(words) and about(words[0])
