"""The package's shape holds: no import circles, a light plugin import, private APIs named in one
place, and no module reaching into the client's privates."""

from __future__ import annotations

import ast
import functools
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.import_graph import cycles, import_graph
from tests.source_tree import parse_file

PACKAGE = Path(__file__).resolve().parent.parent / "conformance"
HEAVY = ("httpx", "httpcore", "jsonschema", "referencing", "yaml", "hypothesis", "schemathesis", "openai",
         "starlette", "uvicorn", "websockets")


@functools.cache
def _trees() -> tuple[tuple[Path, ast.AST], ...]:
    """Every module of the package, parsed once for all the tests that walk it."""
    return tuple((path, parse_file(path)) for path in sorted(PACKAGE.rglob("*.py"))
                 if "__pycache__" not in path.parts)


def test_no_import_cycles() -> None:
    found = cycles(import_graph(PACKAGE))
    assert not found, "runtime import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_a_planted_cycle_is_found(tmp_path: Path) -> None:
    """The detector is not vacuous: one function-level import that closes a circle is reported."""
    copy = tmp_path / "conformance"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    resources = copy / "contract" / "resources.py"
    resources.write_text(resources.read_text() + "\n\ndef _planted():\n    from conformance.runner import summary\n")
    found = cycles(import_graph(copy))
    assert any("conformance.contract.resources" in c and "conformance.runner.summary" in c for c in found), found


def test_plugin_import_loads_nothing_heavy() -> None:
    """Every pytest run of an environment with the package installed imports the plugin: it must not
    pull in the HTTP, schema or YAML stacks (they load when a conformance run starts)."""
    code = ("import sys, pytest; before = set(sys.modules); import conformance.plugin; "
            "print(' '.join(sorted(m for m in set(sys.modules) - before)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    heavy = sorted({m.split(".")[0] for m in loaded} & set(HEAVY))
    assert not heavy, f"importing conformance.plugin loads {heavy}"
    ours = [m for m in loaded if m.startswith("conformance")]
    assert len(ours) <= 8, ours


def test_private_apis_still_exist() -> None:
    """Each private name `conformance.quarantine` relies on is still where it was."""
    from conformance import quarantine

    missing = []
    for library, dotted, loss in quarantine.PRIVATE_APIS:
        if importlib.util.find_spec(library) is None:
            continue
        if not _resolves(dotted):
            missing.append(f"{dotted} ({library}): {loss}")
    assert not missing, "; ".join(missing)


def _resolves(dotted: str) -> bool:
    """`a.b.C._x`: import the longest module prefix, then walk attributes; instance attributes of
    the transport classes are checked on an instance."""
    if dotted in ("httpx.HTTPTransport._pool", "httpcore.ConnectionPool._network_backend"):
        import httpx

        from conformance.quarantine import wrap_network_backend

        return wrap_network_backend(httpx.HTTPTransport(), lambda backend: backend)
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


def test_private_names_of_libraries_only_in_quarantine() -> None:
    """`_pytest`, `httpcore` internals and `openai._…` are touched in `quarantine.py` only."""
    offenders = []
    for path, tree in _trees():
        if path.name == "quarantine.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and (
                    node.module.startswith("_pytest") or node.module.startswith("openai._")):
                offenders.append(f"{path.relative_to(PACKAGE)}: from {node.module} import …")
            if isinstance(node, ast.Attribute) and node.attr in ("_should_retry", "_calculate_retry_timeout",
                                                                 "_network_backend", "_pool"):
                offenders.append(f"{path.relative_to(PACKAGE)}: .{node.attr}")
    assert not offenders, offenders


@pytest.mark.parametrize("private", ["_http", "_record", "_send", "_lock"])
def test_no_module_reaches_into_the_client(private: str) -> None:
    """`GatewayClient` offers `request`, `stream_until` and `record`; nobody else touches its privates."""
    offenders = []
    for path, tree in _trees():
        if path == PACKAGE / "transport" / "client.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == private and not (
                    isinstance(node.value, ast.Name) and node.value.id == "self"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders, offenders


def test_every_registered_check_names_a_known_requirement() -> None:
    import conformance.checks  # noqa: F401  (the family modules register as they import)
    from conformance.checks.registry import all_checks, whole_run_checks
    from conformance.contract.requirements import get

    unknown = [f"{c.name}: {c.requirement}" for c in all_checks() if get(c.requirement) is None]
    assert not unknown, unknown
    assert {c.requirement for c in whole_run_checks()} >= {"ENV-1", "ENV-2", "ENV-3", "ENV-4", "HDR-1", "HDR-2",
                                                            "HDR-3", "FUZ-2"}
