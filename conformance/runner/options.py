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
# Requests in flight at once when the suite gathers independent evidence ahead of the tests that
# judge it (scenarios, fuzz examples): a gateway 150 ms away then costs a few round trips, not one
# per request. 1 sends everything one after another, as a test reads it.
DEFAULT_GATHER_CONCURRENCY = 8


# Our short names and the alias that always stays ours: another plugin or a conftest may own
# `--target`, `--profile`, `--report`, `--level` or `--baseline` (pytest-profiling has `--profile`).
ALIASES = {"--target": "--gwc-target", "--profile": "--gwc-profile", "--target-config": "--gwc-target-config",
           "--report": "--gwc-report", "--level": "--gwc-level", "--baseline": "--gwc-baseline",
           "--require-practice": "--gwc-require-practice"}
_DEST_PREFIX = "conformance_"
NO_VALUE = "\x00no value"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register our options without taking a name someone else owns, and let a plugin or conftest
    registered later take our short name (we keep the `--gwc-` alias) instead of crashing its run."""
    from conformance.quarantine import option_strings_taken, yield_option_names

    taken = option_strings_taken(parser)
    group = parser.getgroup("gateway-conformance", "gateway conformance (see `gateway-conformance --help`)")

    def add(name: str, dest: str, **attrs: object) -> None:
        names = [n for n in (name, ALIASES.get(name)) if n and n not in taken]
        if attrs.get("metavar") and "action" not in attrs and dest != "conformance_level":
            # pytest parses once before conftests load: if a conftest's `--profile` takes no value,
            # ours must not swallow the next option there (a missing value is caught in resolve()).
            attrs = {**attrs, "nargs": "?", "const": NO_VALUE}
        if names:
            group.addoption(*names, dest=dest, **attrs)

    add("--target", "conformance_target", default=None, metavar="URL",
        help="gateway base URL (with or without /v1), or 'reference' (default) for the bundled reference gateway")
    add("--profile", "conformance_profile", default=None, metavar="NAME|PATH",
        help="contract profile: a shipped id (pyai, mindproxy) or a profile file (default: pyai)")
    add("--target-config", "conformance_target_config", default=None, metavar="PATH",
        help="target config YAML/JSON: credentials per role, billing oracle, limits (env GWC_TARGET_CONFIG)")
    add("--report", "conformance_report", default=None, metavar="PATH",
        help="write the JSON conformance report here")
    # No argparse `choices`: pytest parses once before conftests load, and a conftest's own `--level 3`
    # must not fail there; the value is checked when a conformance run resolves it.
    add("--level", "conformance_level", default="all", metavar="must|should|all",
        help="which requirement levels to check (default: all)")
    add("--require-practice", "conformance_require_practice", action="store_true", default=False,
        help="exit 1 unless every claimed MUST of suite practice (beyond the contract) was kept too")
    add("--max-requests", "conformance_max_requests", type=int, default=None, metavar="N",
        help="never send more than N requests to the target")
    add("--max-rps", "conformance_max_rps", type=float, default=None, metavar="R",
        help="never send more than R requests per second to the target")
    add("--allow-billable", "conformance_allow_billable", action="store_true", default=False,
        help="allow tests that spend real money on a non-reference target")
    add("--fuzz-examples", "conformance_fuzz_examples", type=int, default=None, metavar="N",
        help=f"examples per property-based fuzz test (default: {DEFAULT_FUZZ_EXAMPLES}; the seed is --hypothesis-seed)")
    add("--gather-concurrency", "conformance_gather_concurrency", type=int, default=None, metavar="N",
        help=f"requests in flight at once while gathering independent evidence (default: {DEFAULT_GATHER_CONCURRENCY}; "
             "1: one after another); --max-requests and --max-rps still hold exactly")
    add("--reference-defect", "conformance_reference_defects", action="append", default=None, metavar="NAME",
        help="start the reference gateway with this defect switched on (self-tests, demos)")
    add("--reference-variant", "conformance_reference_variants", action="append", default=None, metavar="NAME",
        help="start the reference gateway with this clean variant switched on ('all': every one; self-tests)")
    add("--evidence-har", "conformance_evidence_har", default=None, metavar="PATH",
        help="write every exchange of the run here as HAR 1.2 (credentials masked; `certify` uses it)")
    add("--baseline", "conformance_baseline", default=None, metavar="PATH",
        help="known deviations (YAML): listed failures are reported as known and do not fail the run")
    if getattr(parser, "optparser", None) is not None:
        yield_option_names(parser.optparser, lambda action: str(getattr(action, "dest", "")).startswith(_DEST_PREFIX))


def yielded_names(config: pytest.Config) -> list[str]:
    """Our option names another plugin or conftest took in this run (we kept the `--gwc-` alias)."""
    from conformance.quarantine import yielded_option_names

    return yielded_option_names(config)


_OUR_OPTIONS = ("conformance_target", "conformance_profile", "conformance_target_config", "conformance_report",
                "conformance_max_requests", "conformance_max_rps", "conformance_reference_defects",
                "conformance_reference_variants",
                "conformance_baseline", "conformance_fuzz_examples", "conformance_evidence_har",
                "conformance_gather_concurrency")


def is_conformance_run(config: pytest.Config) -> bool:
    if hasattr(config, "workerinput"):
        return "gateway_conformance" in config.workerinput
    if any(getattr(config.option, name, None) for name in _OUR_OPTIONS):
        return True
    if getattr(config.option, "conformance_level", "all") != "all" or getattr(config.option, "conformance_allow_billable", False) \
            or getattr(config.option, "conformance_require_practice", False):
        return True
    return any(_touches_suite(arg, config) for arg in config.args)


def _touches_suite(arg: str, config: pytest.Config) -> bool:
    return touches_suite(arg, bool(config.option.pyargs), config.invocation_params.dir)


def touches_suite(arg: str, pyargs: bool, invocation_dir: Path | str) -> bool:
    """Whether collecting `arg` (a path, or with `--pyargs` a module) reaches the conformance suite."""
    target = arg.split("::")[0]
    path: Path | None = None
    if pyargs:
        try:
            spec = importlib.util.find_spec(target)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            origin = Path(spec.origin)
            path = origin.parent if origin.name == "__init__.py" else origin
    if path is None:
        path = Path(invocation_dir, target)
    try:
        path = path.resolve()
    except OSError:
        return False
    suite = SUITE_DIR.resolve()
    return path == suite or suite in path.parents or path in suite.parents
