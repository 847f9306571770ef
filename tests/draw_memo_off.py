"""A plugin for suite runs of tests/test_draw_memo.py: the run draws every example itself."""

from __future__ import annotations

from conformance.fuzzing import draw_ahead, draw_memo


def pytest_configure(config) -> None:  # type: ignore[no-untyped-def]
    draw_memo.forget()
    draw_ahead.enabled = False
