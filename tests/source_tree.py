"""Parse the package's source for the self-tests that read it (architecture, judges).

CPython before 3.11.8 / 3.12 kept the AST builder's recursion depth in state shared by every
thread (gh-106905): a worker whose server thread compiles a module at the same moment makes
`ast.parse` raise `SystemError: AST constructor recursion depth mismatch`. That is the
interpreter's race, not the source's fault, so the parse is simply made again."""

from __future__ import annotations

import ast
from pathlib import Path

ATTEMPTS = 5


def parse_file(path: Path) -> ast.Module:
    source = path.read_text(encoding="utf-8")
    for attempt in range(ATTEMPTS):
        try:
            return ast.parse(source, str(path))
        except SystemError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
