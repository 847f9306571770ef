"""The package's shape holds: the layers of docs/architecture.md (import-linter's contracts in
pyproject.toml, each shown to fail on a planted import), every module named in that table, a light
plugin import, private APIs named in one place, and no module reaching into the client's privates."""

from __future__ import annotations

import ast
import functools
import importlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.source_tree import parse_file

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "conformance"
HEAVY = ("httpx", "httpcore", "jsonschema", "referencing", "yaml", "hypothesis", "schemathesis", "openai",
         "starlette", "uvicorn", "websockets")

# import-linter's API on the package found on sys.path (argv[1]: the pyproject.toml to read):
# contract id → kept, and its violations as text. A script, so a copy of the package can be linted
# in a child process whose sys.path finds the copy first.
LINT = """
import json, sys
import importlinter.api  # configures import-linter's adapters
from importlinter.application import use_cases

use_cases._register_built_in_contract_types()
options = use_cases.read_user_options(sys.argv[1])
ids = {c["name"]: c["id"] for c in options.contracts_options}
report = use_cases.create_report(options, cache_dir=None)
print(json.dumps({ids[c.name]: {"kept": check.kept, "found": repr(check.metadata)}
                  for c, check in report.get_contracts_and_checks()}))
"""

# Per contract: the violating modules planted in a copy of the package (module → its source).
PLANTS: dict[str, dict[str, str]] = {
    "layers": {"contract/_planted_layers.py": "import conformance.launch\n",
               "_planted_unplaced.py": ""},  # exhaustive: a top-level module without a layer
    "servers-independent": {"provider/_planted_independent.py": "import conformance.reference.types\n"},
    "servers-started-not-imported": {"scenarios/_planted_started.py": "import conformance.reference.ledger\n"},
    "checks-only-judge": {"checks/_planted_judge.py": "def later():\n    import conformance.billing.oracle\n"},
    "no-module-circles": {"transport/_planted_circle_a.py": "import conformance.transport._planted_circle_b\n",
                          "transport/_planted_circle_b.py": "import conformance.transport._planted_circle_a\n"},
}


@functools.cache
def _trees() -> tuple[tuple[Path, ast.AST], ...]:
    """Every module of the package, parsed once for all the tests that walk it."""
    return tuple((path, parse_file(path)) for path in sorted(PACKAGE.rglob("*.py"))
                 if "__pycache__" not in path.parts)


def _lint(root: Path) -> dict[str, dict[str, object]]:
    """The contracts of pyproject.toml checked on the `conformance` package under `root`."""
    done = subprocess.run([sys.executable, "-c", LINT, str(REPO / "pyproject.toml")], capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, cwd=root, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_import_contracts_hold() -> None:
    """What `lint-imports` checks in .ci/run, through import-linter's API: every contract kept."""
    import importlinter.api  # noqa: F401  (configures import-linter's adapters)
    from importlinter.application import use_cases

    use_cases._register_built_in_contract_types()
    options = use_cases.read_user_options(str(REPO / "pyproject.toml"))
    report = use_cases.create_report(options, cache_dir=None)
    checks = list(report.get_contracts_and_checks())
    assert {c.name for c, _ in checks} == {c["name"] for c in options.contracts_options}
    broken = [f"{c.name}: {check.metadata}" for c, check in checks if not check.kept]
    assert not broken, broken
    assert not report.contains_failures


def test_each_contract_fails_on_a_planted_import(tmp_path: Path) -> None:
    """The contracts are not vacuous: in a copy of the package with one violating import planted
    per contract, each contract is broken, naming its own plant."""
    assert set(PLANTS) == {c["id"] for c in _contracts()}, "every contract needs a plant"
    copy = tmp_path / "conformance"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for planted in PLANTS.values():
        for relative, source in planted.items():
            (copy / relative).write_text(source)
    found = _lint(tmp_path)
    for contract, planted in PLANTS.items():
        assert not found[contract]["kept"], f"{contract} kept despite {sorted(planted)}"
        for relative in planted:
            name = Path(relative).stem
            assert name in str(found[contract]["found"]), f"{contract} did not name {name}: {found[contract]}"


def _contracts() -> list[dict[str, object]]:
    import importlinter.api  # noqa: F401  (configures import-linter's adapters)
    from importlinter.application import use_cases

    return list(use_cases.read_user_options(str(REPO / "pyproject.toml")).contracts_options)


def _table_rows() -> dict[Path, set[str]]:
    """docs/architecture.md's module table: folder → the module names its rows give in backticks."""
    rows: dict[Path, set[str]] = {}
    for line in (REPO / "docs" / "architecture.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not re.fullmatch(r"`[\w/]+/`", cells[1]):
            continue
        folder = cells[1].strip("`").strip("/")
        path = PACKAGE if folder == "conformance" else PACKAGE / folder
        for token in re.findall(r"`([^`]+)`", " | ".join(cells[2:-1])):
            rows.setdefault(path, set()).add(re.split(r"[^\w]", token.removesuffix(".py"), maxsplit=1)[0])
    return rows


def test_every_module_is_in_the_architecture_table() -> None:
    """Nobody adds a module silently: each .py under conformance/ (but `__init__`) is named in its
    folder's row of docs/architecture.md, and every folder the table names holds modules."""
    rows = _table_rows()
    modules = {path for path, _ in _trees() if path.name != "__init__.py"}
    missing = sorted(str(p.relative_to(PACKAGE)) for p in modules if p.stem not in rows.get(p.parent, set()))
    assert not missing, f"not in docs/architecture.md's module table: {missing}"
    assert set(rows) == {p.parent for p in modules}, "a table row names a folder that holds no module"


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
