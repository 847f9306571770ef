"""Checks that cannot fail (issue 20): a judgement wrapped in `except Exception` turns a bug in the
judge — or any problem it raises — into a pass. No suite test and no check catches that broadly;
each names the finding it expects (before the change FUZ-2's oversized probes did)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.source_tree import parse_file

PACKAGE = Path(__file__).resolve().parent.parent / "conformance"
JUDGES = ("suite", "checks", "billing", "fuzzing")
BROAD = {"Exception", "BaseException"}
# Named, commented exceptions to the rule: an optional import that may fail in any way.
ALLOWED = {("fuzzing/engine.py", "import")}


def _broad(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return handler.type is None or any(isinstance(k, ast.Name) and k.id in BROAD for k in kinds)


def test_no_judgement_swallows_every_exception() -> None:
    offenders = []
    for folder in JUDGES:
        for path in sorted((PACKAGE / folder).rglob("*.py")):
            tree = parse_file(path)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Try):
                    continue
                guarded = "import" if any(isinstance(s, (ast.Import, ast.ImportFrom)) for s in node.body) else "code"
                rel = str(path.relative_to(PACKAGE))
                for handler in node.handlers:
                    reraises = any(isinstance(s, ast.Raise) for s in ast.walk(handler))
                    if _broad(handler) and not reraises and (rel, guarded) not in ALLOWED:
                        offenders.append(f"{rel}:{handler.lineno}")
    assert not offenders, offenders
