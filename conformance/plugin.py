"""The pytest plugin (entry point `pytest11: conformance`).

It is inert unless this is a conformance run: one of our options was given, or the paths pytest
was asked to collect include the suite (`conformance/suite`). Installed in someone else's venv it
adds its options to `--help` and does nothing else: no gateway started, no summary printed.
"""

from __future__ import annotations

from conformance.runner.options import pytest_addoption  # noqa: F401
from conformance.runner.rootdir import pytest_load_initial_conftests  # noqa: F401
from conformance.runner.session import pytest_configure, pytest_sessionstart, pytest_unconfigure  # noqa: F401
from conformance.runner.collection import pytest_collection_modifyitems  # noqa: F401
from conformance.runner.recording import pytest_fixture_setup, pytest_runtest_call, pytest_runtest_makereport, pytest_runtest_setup, pytest_runtest_logreport  # noqa: F401
from conformance.runner.summary import pytest_sessionfinish, pytest_terminal_summary  # noqa: F401
from conformance.runner.stash import CONTEXT, RESULT_PROPERTY  # noqa: F401  (re-exported: the suite's conftest and bench read them)
