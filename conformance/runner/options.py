"""Our command-line options, and whether this pytest run is a conformance run at all (inertness).

Imported by `conformance.plugin` in every pytest run of an environment where the package is
installed, so it imports nothing heavy: the rest of the runner loads only for a conformance run.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from conformance.contract.resources import SUITE_DIR

DEFAULT_FUZZ_EXAMPLES = 15


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gateway-conformance", "gateway conformance (see `gateway-conformance --help`)")
    group.addoption("--target", default=None, metavar="URL",
                    help="gateway base URL (with or without /v1), or 'reference' (default) for the bundled reference gateway")
    group.addoption("--profile", default=None, metavar="NAME|PATH",
                    help="contract profile: a shipped id (pyai, mindproxy) or a profile file (default: pyai)")
    group.addoption("--target-config", default=None, metavar="PATH",
                    help="target config YAML/JSON: credentials per role, billing oracle, limits (env GWC_TARGET_CONFIG)")
    group.addoption("--report", dest="conformance_report", default=None, metavar="PATH",
                    help="write the JSON conformance report here")
    group.addoption("--level", dest="conformance_level", default="all", choices=("must", "should", "all"),
                    help="which requirement levels to check (default: all)")
    group.addoption("--max-requests", type=int, default=None, metavar="N",
                    help="never send more than N requests to the target")
    group.addoption("--max-rps", type=float, default=None, metavar="R",
                    help="never send more than R requests per second to the target")
    group.addoption("--allow-billable", action="store_true", default=False,
                    help="allow tests that spend real money on a non-reference target")
    group.addoption("--fuzz-examples", type=int, default=None, metavar="N",
                    help=f"examples per property-based fuzz test (default: {DEFAULT_FUZZ_EXAMPLES}; the seed is --hypothesis-seed)")
    group.addoption("--reference-defect", dest="reference_defects", action="append", default=None, metavar="NAME",
                    help="start the reference gateway with this defect switched on (self-tests, demos)")
    group.addoption("--reference-variant", dest="reference_variants", action="append", default=None, metavar="NAME",
                    help="start the reference gateway with this clean variant switched on ('all': every one; self-tests)")
    group.addoption("--baseline", dest="conformance_baseline", default=None, metavar="PATH",
                    help="known deviations (YAML): listed failures are reported as known and do not fail the run")


_OUR_OPTIONS = ("target", "profile", "target_config", "conformance_report", "max_requests", "max_rps",
                "reference_defects", "reference_variants", "conformance_baseline", "fuzz_examples")


def is_conformance_run(config: pytest.Config) -> bool:
    if hasattr(config, "workerinput"):
        return "gateway_conformance" in config.workerinput  # type: ignore[attr-defined]
    if any(getattr(config.option, name, None) for name in _OUR_OPTIONS):
        return True
    if config.getoption("conformance_level") != "all" or config.getoption("allow_billable"):
        return True
    return any(_touches_suite(arg, config) for arg in config.args)


def _touches_suite(arg: str, config: pytest.Config) -> bool:
    target = arg.split("::")[0]
    path: Path | None = None
    if config.option.pyargs:
        try:
            spec = importlib.util.find_spec(target)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            origin = Path(spec.origin)
            path = origin.parent if origin.name == "__init__.py" else origin
    if path is None:
        path = Path(config.invocation_params.dir, target)
    try:
        path = path.resolve()
    except OSError:
        return False
    suite = SUITE_DIR.resolve()
    return path == suite or suite in path.parents or path in suite.parents
