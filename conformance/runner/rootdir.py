"""The README's command from anywhere: `pytest --target URL --target-config PATH --report PATH`.

pytest picks its rootdir and ini file before any plugin from an entry point is loaded, so at that
moment `--report` is an unknown option and `/tmp/r.json` (when it exists) looks like a path to
collect: the rootdir becomes `/tmp`, the repository's ini file (testpaths, addopts) is never read,
and pytest collects the working directory recursively — the self-tests too. `--report=/tmp/r.json`
never had the problem; users type a space.

Once our options are known (this hook runs right after the entry points load, before the initial
conftests), a conformance run re-decides the setup with the arguments parsed correctly and, when
it differs, puts pytest's rootdir, ini file and ini addopts back where they belong. Without a path
to collect, a conformance run collects the suite: from the repository that is `conformance/suite`
(the ini's testpaths) from whatever subdirectory; outside it, pytest would collect nothing, so
the run stops with one line saying what to type instead.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

OUR_VALUE_OPTIONS = ("conformance_target", "conformance_target_config", "conformance_report", "conformance_baseline",
                     "conformance_profile")


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]):
    """Before the initial conftests: put the rootdir back. After them (a conftest may own one of
    our names, see `conformance.runner.options`): decide what a conformance run collects."""
    if hasattr(early_config, "workerinput"):
        return (yield)
    _tidy(early_config, parser, args)
    ns = _ours(early_config, parser, args)
    if ns is not None:
        from conformance.quarantine import reseat_rootdir

        reseat_rootdir(early_config, ns, list(getattr(ns, "file_or_dir", None) or []), args)
    result = yield
    ns = _ours(early_config, parser, args)
    if ns is None or getattr(ns, "file_or_dir", None):
        return result
    from conformance.contract.resources import SUITE_DIR

    suite = SUITE_DIR.resolve()
    rootpath = Path(early_config.rootpath).resolve()
    if rootpath in suite.parents:
        invocation = Path(early_config.invocation_params.dir).resolve()
        if invocation != rootpath or not early_config.getini("testpaths"):
            args.append(str(suite))  # run from a subdirectory: still exactly the suite
        return result
    if getattr(ns, "pyargs", False):
        return result
    raise pytest.UsageError(
        "no conformance tests here (this directory is not the gateway-conformance repository): "
        "run `gateway-conformance run " + " ".join(_shown(args)) + "` or add `--pyargs conformance.suite`"
    )


def _tidy(config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """A conformance run leaves no `.pytest_cache/` wherever it is started (`conformance.runner.tidy`)."""
    try:
        ns = parser.parse_known_args(list(args), namespace=copy.copy(config.option))
    except Exception:  # noqa: BLE001 - pytest reports bad arguments itself, later and better
        return
    from conformance.runner.options import touches_suite
    from conformance.runner.tidy import block_cache_provider

    pyargs = bool(getattr(ns, "pyargs", False))

    def reaches_suite(arg: str) -> bool:
        # Only our own package is looked up as a module: finding someone else's would import it
        # before pytest can rewrite it (the plugin stays inert in their runs).
        ours_by_name = pyargs and arg.split("::")[0].split(".")[0] == "conformance"
        return touches_suite(arg, ours_by_name, config.invocation_params.dir)

    paths = [str(p) for p in getattr(ns, "file_or_dir", None) or []]
    if any(getattr(ns, name, None) for name in OUR_VALUE_OPTIONS) or any(reaches_suite(p) for p in paths):
        block_cache_provider(config)


def _ours(config: pytest.Config, parser: pytest.Parser, args: list[str]) -> Any:
    """The arguments parsed, when they hold one of our options; else None (not a conformance run)."""
    try:
        ns = parser.parse_known_args(list(args), namespace=copy.copy(config.option))
    except Exception:  # noqa: BLE001 - pytest reports bad arguments itself, later and better
        return None
    return ns if any(getattr(ns, name, None) for name in OUR_VALUE_OPTIONS) else None


def _shown(args: list[str]) -> list[str]:
    import shlex

    return [shlex.quote(a) for a in args][:12]
