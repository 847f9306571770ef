"""Typed problems (`conformance.checks.problem`): every check returns `Problem`s whose `str()` is the
message the suite always printed; the registry files them under their requirement; identical ones
group; the report rows carry them (schema-valid) and the renderings show them by kind. And the
checks only judge: nothing in `checks/` imports a layer that drives or reports, sends, sleeps or skips."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest

from conformance import checks
from conformance.checks.problem import Problem, ProblemsFound, as_problems, grouped, one_line, shared_citation
from conformance.contract.profiles import load_profile
from conformance.report.render import problem_kinds
from conformance.report.results import TestResult as Recorded
from conformance.report.results import bounded_problems
from conformance.transport.client import Exchange

PYAI = load_profile("pyai")
CHECKS_DIR = Path(checks.__file__).parent
# What a pure judgement may import from conformance (everything else drives, bills, reports or serves);
# from transport it reads exchanges and evidence, and FORBIDDEN_CALLS keeps it from sending.
ALLOWED = ("conformance.checks", "conformance.contract", "conformance.protocol", "conformance.transport")
FORBIDDEN_CALLS = {"sleep", "skip", "request", "stream_until", "call_chat", "sdk_decision", "inconclusive", "burst"}


def _429(**headers: str | bytes) -> Exchange:
    return Exchange("POST", "http://gw.test/v1/chat/completions", {}, None, status=429,
                    headers=httpx.Headers({k: v.encode() if isinstance(v, str) else v for k, v in headers.items()}), body=b'{"error": {"message": "m", "type": "t", "code": "rate_limit_exceeded"}}')


def test_a_problem_reads_as_the_old_message_and_carries_its_exchange() -> None:
    exchange = _429()
    [problem] = checks.retry_after_problems(exchange)
    assert isinstance(problem, Problem)
    assert str(problem) == "POST /v1/chat/completions → 429: no Retry-After header"
    assert problem.requirement == "HDR-2" and problem.exchange is exchange
    assert problem.title == "no Retry-After header" and problem.subject == "Retry-After"


def test_the_registry_files_a_shared_helpers_problems_under_the_callers_requirement() -> None:
    from conformance.checks.retry import cap_retry_problems, retry_problems

    bad = _429(**{"retry-after": "²".encode()})  # raw bytes, as on the wire
    assert {p.requirement for p in retry_problems(bad)} == {"RTY-2"}
    assert {p.requirement for p in cap_retry_problems(bad)} == {"RTY-4"}


def test_identical_problems_group_and_count() -> None:
    one, other = _429(), _429()
    problems = checks.retry_after_problems(one) + checks.retry_after_problems(other)
    assert problems[0] == problems[1] and problems[0].exchange is not problems[1].exchange
    assert grouped(problems) == [(problems[0], 2)]
    assert one_line(problems) == "POST /v1/chat/completions → 429: no Retry-After header (×2)"
    assert one_line([*problems[:1], "a plain one"]).endswith("; a plain one")


def test_plain_strings_become_problems_of_the_tests_requirement() -> None:
    typed = as_problems(["billing moved by 1"], "CHG-1")
    assert typed == [Problem("CHG-1", "billing moved by 1")]
    assert as_problems(checks.retry_after_problems(_429()), "RTY-2")[0].requirement == "HDR-2"  # its own stays


def test_problems_found_keeps_the_failure_line_and_the_problems() -> None:
    problems = checks.retry_after_problems(_429())
    failure = ProblemsFound(problems, "\n  rule: quote")
    assert isinstance(failure, AssertionError)
    assert str(failure) == "POST /v1/chat/completions → 429: no Retry-After header\n  rule: quote"
    assert failure.problems == problems
    assert shared_citation(problems) is None
    cited = [Problem("RTY-3", "x", cites="[c] rule"), Problem("RTY-3", "y", cites="[c] rule")]
    assert shared_citation(cited) == "[c] rule" and shared_citation([*cited, Problem("RTY-3", "z")]) is None


def test_to_dict_is_the_reports_shape_and_redacts() -> None:
    from conformance.transport.redact import Redactor

    exchange = Exchange("POST", "http://gw.test/v1/chat/completions?key=sk-secret-abcdefghijklmnop", {}, None,
                        status=429, headers=httpx.Headers())
    problem = Problem.at(exchange, "echoes sk-secret-abcdefghijklmnop", title="credential echoed", subject="body")
    data = problem.to_dict(Redactor(["sk-secret-abcdefghijklmnop"]))
    assert "sk-secret-abcdefghijklmnop" not in str(data)
    assert data["title"] == "credential echoed" and data["subject"] == "body"
    assert data["exchange"]["method"] == "POST" and data["exchange"]["status"] == 429
    assert Problem("X-1", "m").to_dict() == {"requirement": "X-1", "title": "m", "message": "m"}


def test_report_rows_group_problems_across_tests_and_render_by_kind() -> None:
    row = {"requirement": "HDR-2", "title": "no Retry-After header", "message": "POST /v1/x → 429: no Retry-After header"}
    tests = [Recorded(f"t{i}", "HDR-2", "failed", problems=[row]) for i in range(3)]
    tests.append(Recorded("t9", "HDR-2", "failed", problems=[{**row, "title": "other", "message": "m"}]))
    problems, left_out = bounded_problems(tests)
    assert left_out == 0 and [p.get("count", 1) for p in problems] == [3, 1] and problems[0]["test"] == "t0"
    lines = problem_kinds({"problems": problems})
    assert lines == ["no Retry-After header (×3), e.g. POST /v1/x → 429: no Retry-After header", "other, e.g. m"]
    assert problem_kinds({"problems": problems[1:]}) == []  # one problem: the reason says it already


def test_a_report_with_problems_is_schema_valid() -> None:
    problem = {"requirement": "HDR-2", "title": "t", "message": "m", "subject": "Retry-After", "count": 2,
               "test": "x", "exchange": {"method": "POST", "url": "http://gw.test/v1/x", "status": None, "har_entry": "c-1"}}
    row = {"id": "HDR-2", "level": "MUST", "title": "t", "status": "failed", "tests": ["x"], "reason": "m",
                  "problems": [problem], "problems_omitted": 1}
    from jsonschema import Draft202012Validator

    from conformance.contract.schemas import registry, schema_uri

    row_schema = Draft202012Validator({"$ref": schema_uri("report.schema.json") + "#/$defs/requirement"},
                                      registry=registry())
    assert list(row_schema.iter_errors(row)) == []
    broken = {**row, "problems": [{"requirement": "HDR-2", "title": "t"}]}  # no message
    assert list(row_schema.iter_errors(broken))


@pytest.mark.parametrize("path", sorted(CHECKS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_checks_only_judge(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    bad = [m for m in imported if (m.startswith("conformance") and not m.startswith(ALLOWED)) or m == "pytest"]
    assert not bad, f"{path.name} imports {bad}"
    calls = {n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
             for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert not calls & FORBIDDEN_CALLS, f"{path.name} calls {calls & FORBIDDEN_CALLS}"


def test_problems_found_pickles_as_its_message() -> None:
    import pickle

    failure = ProblemsFound(checks.retry_after_problems(_429()), "\n  rule: quote")
    copy = pickle.loads(pickle.dumps(failure))
    assert type(copy) is AssertionError and str(copy) == str(failure)
