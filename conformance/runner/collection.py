"""Collection: every suite test names exactly one known requirement; what does not apply is deselected."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.contract.requirements import get as get_requirement
from conformance.contract.resources import SUITE_DIR
from conformance.report.results import applicable_requirements
from conformance.runner.stash import CONTEXT


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    context = config.stash.get(CONTEXT, None)
    if context is None:
        return
    applicable = {r.id for r in applicable_requirements(context.profile, context.level)}
    keep, drop = [], []
    for item in items:
        markers = list(item.iter_markers("requirement"))
        if not _in_suite(item):
            keep.append(item)
            continue
        if len(markers) != 1 or len(markers[0].args) != 1:
            raise pytest.UsageError(f"{item.nodeid}: a conformance test needs exactly one @pytest.mark.requirement(ID)")
        requirement_id = markers[0].args[0]
        if get_requirement(requirement_id) is None:
            raise pytest.UsageError(f"{item.nodeid}: unknown requirement id {requirement_id!r} (not in the registry)")
        if item.get_closest_marker("not_applicable") is not None:  # e.g. realtime cases of a profile without them
            drop.append(item)
            continue
        (keep if requirement_id in applicable else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _in_suite(item: pytest.Item) -> bool:
    path = Path(str(item.path)).resolve()
    return SUITE_DIR.resolve() in path.parents
