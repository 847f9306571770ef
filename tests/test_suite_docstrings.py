"""The contract beside each suite test: every test's docstring opens with its requirement, quoted
from the catalogue (`conformance/data/requirements.yaml`), as h2spec shows the RFC sentence beside
each case. `pytest --collect-only -v` then lists each test with the words it enforces.

The rule, strict but true for every test: the docstring's first line is the requirement's title
verbatim; where several tests share one requirement, each may instead quote the one clause of the
title it checks (a piece of the title that starts and ends where a clause does). A requirement
with a single test quotes its whole title. Read from the source (no collection, no gateway).
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

from conformance.contract.requirements import registry

SUITE = Path(__file__).resolve().parent.parent / "conformance" / "suite"
# Where a clause of a title starts (after one of these) and ends (before one of these).
CLAUSE_OPENERS = ("; ", ". ", ", and ", ": ")
CLAUSE_CLOSERS = (";", ".", " (", ",", ":")
MIN_CLAUSE_WORDS = 4  # a quote shorter than this says too little to be the test's rule


def requirement_of(node: ast.FunctionDef) -> list[str]:
    """The ids of the `@pytest.mark.requirement("ID")` decorators on `node`."""
    ids = []
    for decorator in node.decorator_list:
        if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == "requirement" and decorator.args
                and isinstance(decorator.args[0], ast.Constant)):
            ids.append(str(decorator.args[0].value))
    return ids


def suite_tests() -> list[tuple[str, ast.FunctionDef]]:
    """(file name, function) for every module-level `test_*` function of the suite."""
    found = []
    for path in sorted(SUITE.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [(path.name, node) for node in tree.body
                  if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]
    return found


def is_clause(quote: str, title: str) -> bool:
    """Whether `quote` is one clause (or a run of clauses) of `title`, cut where clauses are cut."""
    core = quote.rstrip(".;")
    if len(core.split()) < MIN_CLAUSE_WORDS:
        return False
    start = title.find(core)
    while start != -1:
        end = start + len(core)
        opens = start == 0 or any(title[:start].endswith(o) for o in CLAUSE_OPENERS)
        closes = end == len(title) or any(title[end:].startswith(c) for c in CLAUSE_CLOSERS)
        if opens and closes:
            return True
        start = title.find(core, start + 1)
    return False


def docstring_problem(node: ast.FunctionDef, counts: Counter[str]) -> str | None:
    ids = requirement_of(node)
    if len(ids) != 1:
        return f"has {len(ids)} requirement markers (one requirement id per test)"
    requirement = registry().get(ids[0])
    if requirement is None:
        return f"names {ids[0]}, which the catalogue does not list"
    doc = ast.get_docstring(node)
    if not doc:
        return f"has no docstring; its first line should be {ids[0]}'s title: {requirement.title!r}"
    first = doc.splitlines()[0].strip()
    if first == requirement.title:
        return None
    if counts[ids[0]] == 1:
        return (f"is {ids[0]}'s only test, so its docstring opens with the whole title {requirement.title!r}, "
                f"not {first!r}")
    if is_clause(first, requirement.title):
        return None
    return f"opens with {first!r}, which is neither {ids[0]}'s title nor a clause of it: {requirement.title!r}"


def test_every_suite_test_quotes_its_requirement() -> None:
    tests = suite_tests()
    assert len(tests) > 50, f"found only {len(tests)} suite tests under {SUITE}"
    counts = Counter(rid for _, node in tests for rid in requirement_of(node))
    problems = [f"{name}::{node.name} {problem}" for name, node in tests
                if (problem := docstring_problem(node, counts)) is not None]
    assert not problems, "\n".join(problems)


TITLE = "Every 429 carries the rate-limit headers; each parses (or the profile's format), X <= Y; on a 429 Remaining is 0."


@pytest.mark.parametrize(("quote", "expected"), [
    ("Every 429 carries the rate-limit headers", True),  # the first clause
    ("on a 429 Remaining is 0", True),  # the last clause, its full stop left out
    ("on a 429 Remaining is 0.", True),  # or kept
    ("Every 429 carries the rate-limit headers; each parses", True),  # a run of clauses
    ("429 carries the rate-limit headers", False),  # starts inside a clause
    ("Every 429 carries the rate-limit", False),  # ends inside a clause
    ("on a 429", False),  # too short to say anything
    ("Every 429 carries the rate-limit headers, always", False),  # not the catalogue's words
])
def test_clause_rule(quote: str, expected: bool) -> None:
    assert is_clause(quote, TITLE) is expected


def test_rule_fails_a_wrong_docstring() -> None:
    """The check can fail: a paraphrase, a missing docstring, a clause where the whole title is due."""
    code = '''
@pytest.mark.requirement("ENV-4")
def test_a():
    """The message is not empty."""

@pytest.mark.requirement("ENV-4")
def test_b():
    pass

@pytest.mark.requirement("MAP-3")
def test_c():
    """a disabled key gets the unauthorized code"""
'''
    nodes = [n for n in ast.parse(code).body if isinstance(n, ast.FunctionDef)]
    counts = Counter({"ENV-4": 2, "MAP-3": 1})
    problems = [docstring_problem(node, counts) for node in nodes]
    assert problems[0] is not None and "neither" in problems[0]
    assert problems[1] is not None and "no docstring" in problems[1]
    assert problems[2] is not None and "whole title" in problems[2]
    assert docstring_problem(nodes[2], Counter({"MAP-3": 5})) is None
