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
  package itself is noise, so the session start takes it back out of the terminal's tally. So are
  the warnings of a run forked from a warm server (`conformance.forkrun`) about the packages the
  server imported (hypothesis, schemathesis): a fresh process would have imported them after pytest.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance import forkrun

REWRITE_NOTICE = "Module already imported so cannot be rewritten"


def block_cache_provider(config: pytest.Config) -> None:
    """As `-p no:cacheprovider` would (it blocks stepwise too, which writes to the same cache)."""
    if not config.pluginmanager.is_blocked("cacheprovider"):
        config.pluginmanager.consider_pluginarg("no:cacheprovider")


def drop_own_rewrite_warnings(config: pytest.Config) -> None:
    """Remove the config-time rewrite warnings about `conformance` modules (and, in a forked run, the
    modules the fork server imported) from the terminal's tally."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    stats: dict[str, list[Any]] = getattr(reporter, "stats", None) or {}
    warnings = stats.get("warnings")
    if not warnings:
        return
    kept = [w for w in warnings if not _own_rewrite_warning(str(getattr(w, "message", "")))]
    if len(kept) != len(warnings):
        warnings[:] = kept
        if not kept:
            del stats["warnings"]


def _own_rewrite_warning(message: str) -> bool:
    """`…: PytestAssertRewriteWarning: Module already imported so cannot be rewritten; conformance` (and
    the source line pytest adds below it): one module name, ours or one a fork server imported."""
    if REWRITE_NOTICE not in message:
        return False
    words = message.split(REWRITE_NOTICE, 1)[1].lstrip(";: ").split()
    return bool(words) and (words[0] == "conformance" or words[0].startswith("conformance.")
                            or words[0] in forkrun.preloaded())
