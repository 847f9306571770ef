"""The conformance run as a function: pytest on the shipped suite (`gateway-conformance run`, and
the run inside `certify`), so both start it the same way without importing the CLI."""

from __future__ import annotations


def run(pytest_args: list[str]) -> int:
    """The conformance run: pytest on the shipped suite with the same options."""
    import pytest

    # The plugin imports `conformance` before pytest can rewrite it; the suite's own modules are
    # rewritten anyway, so the warning about the package is noise on every run.
    return int(pytest.main(["--pyargs", "conformance.suite", "-p", "no:cacheprovider",
                            "-W", "ignore::pytest.PytestAssertRewriteWarning", *pytest_args]))
