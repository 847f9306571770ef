"""The pytest plugin (entry point `pytest11: conformance`).

It is inert unless this is a conformance run: one of our options was given, or the paths pytest
was asked to collect include the suite (`conformance/suite`). Installed in someone else's venv it
adds its options and markers and nothing else: no hooks run, no gateway starts, no summary is
printed, and importing it loads nothing heavy (the runner's hook modules are imported and
registered only once `pytest_configure` knows this is a conformance run).
"""

from __future__ import annotations

import importlib

import pytest

from conformance.runner import interrupt
from conformance.runner.options import is_conformance_run, pytest_addoption  # noqa: F401  (a hook)
from conformance.runner.rootdir import pytest_load_initial_conftests  # noqa: F401  (a hook: before conftests load)

# A Ctrl-C while pytest still imports the other plugins is recorded, not lost (runner/interrupt.py).
interrupt.arm()

# The runner's hook modules, registered for a conformance run only (in this order).
HOOK_MODULES = ("interrupt", "session", "collection", "recording", "summary", "heap")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requirement(id): the conformance requirement (its catalogue id, e.g. HDR-2) this test checks"
    )
    config.addinivalue_line(
        "markers", "not_applicable(reason): a case the profile has none of (deselected, never reported as skipped)"
    )
    config.addinivalue_line(
        "markers", "scope(name): a scope this case needs beyond its requirement's (e.g. realtime); "
                   "run only when the target config claims it"
    )
    if not is_conformance_run(config):
        interrupt.disarm()
        return
    for name in HOOK_MODULES:
        module = importlib.import_module(f"conformance.runner.{name}")
        if not config.pluginmanager.is_registered(module):
            config.pluginmanager.register(module, f"gateway-conformance-{name}")
    from conformance.runner.session import configure_run

    configure_run(config)
