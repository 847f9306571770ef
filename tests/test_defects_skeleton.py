"""A defect in the reference gateway makes exactly its requirement fail (the walking-skeleton trio).

The full kill matrix over every defect lives in test_kill_matrix.py; these three are the
walking skeleton's promise and run on their own so a regression names itself.
"""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "defect,expected",
    [
        ("no_retry_after", {"HDR-2"}),
        ("html_404", {"ENV-1", "MAP-4", "FUZ-1"}),  # FUZ-1: fuzzed paths meet the HTML 404 too
        ("echo_key_in_401", {"SEC-1"}),
    ],
)
def test_defect_fails_exactly_its_requirements(suite, defect, expected):
    run = suite(defects=(defect,))
    assert run.returncode == 1, run.output[-3000:]
    assert run.verdict == "non-conformant"
    # a 429 without Retry-After also breaks the retry rules (RTY-2) and makes the SDK retry a daily
    # cap after its own back-off (RTY-3), by design
    allowed_also = {"RTY-2", "RTY-3"}
    assert expected <= run.failed(), run.failed()
    assert run.failed() - expected <= allowed_also, run.failed()
    failed = next(r for r in run.report["requirements"] if r["id"] == sorted(expected)[0])
    assert failed["reason"] and failed["evidence"], failed


def test_echoed_key_never_reaches_the_report(suite, tmp_path):
    run = suite(defects=("echo_key_in_401",))
    text = (tmp_path / "report-0.json").read_text()
    assert "…REDACTED" in text or "REDACTED" in text
    import re

    assert not re.search(r"sk-ref-[0-9a-f]{32}", text), "a reference key leaked into the report"
    assert not re.search(r"sk-ref-[0-9a-f]{32}", run.output), "a reference key leaked into the terminal output"
