"""A pytest plugin for the budget self-tests (`-p tests.budget_probe`): records, into the JSON file
named by `GWC_SELFTEST_BUDGET_PROBE`, which suite tests still ran their call phase after the
request budget was spent, and how many fuzz examples were still generated once the budget had
refused one (each is local work that can no longer send anything)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from conformance.runner.stash import CLIENT

_seen: dict[str, Any] = {"called_after_spent": [], "examples_after_refusal": 0}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    client = item.config.stash.get(CLIENT, None)
    if client is not None and client.budget.spent:
        _seen["called_after_spent"].append(item.nodeid)


def pytest_configure(config: pytest.Config) -> None:
    from conformance.fuzzing import engine

    original = engine.Fuzzer.send

    def send(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.budget_error is not None:
            _seen["examples_after_refusal"] += 1
        return original(self, *args, **kwargs)

    engine.Fuzzer.send = send  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    path = os.environ.get("GWC_SELFTEST_BUDGET_PROBE")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(_seen, out)
