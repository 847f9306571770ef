"""Collection: every suite test names exactly one known requirement; what does not apply is
deselected (by design: never counted as "not fully checked"), and so is what needs a scope the
target does not claim (its requirement's scope, or a `@pytest.mark.scope(...)` of the case: reported
`not_claimed`, never as deselected by the user); what the user's selection then leaves is counted
per requirement (`conformance.runner.selection`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.contract.requirements import get as get_requirement
from conformance.report.results import applicable_requirements
from conformance.runner.selection import Selection, in_suite, suite_file
from conformance.runner.stash import CONTEXT, SELECTION


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]):
    """Ours first (what the profile and `--level` leave out), then everyone else's deselection
    (-k, -m, --deselect, --lf), then count what is left per requirement."""
    context = config.stash.get(CONTEXT, None)
    if context is None:
        return (yield)
    files = sorted({name for name in (suite_file(item.path) for item in items) if name})
    before = len(items)
    not_claimed = _deselect_not_applicable(config, items, context)
    by_design = before - len(items) - sum(len(cases) for cases in not_claimed.values())
    planned = _count(items)
    result = yield
    option = config.option
    partial = sorted({name for arg in config.args if "::" in arg
                      for name in [Path(arg.split("::")[0]).name] if name in files})
    config.stash[SELECTION] = Selection(
        planned=planned, selected=_count(items), files=files, partial_files=partial,
        args=[str(a) for a in config.args], keyword=getattr(option, "keyword", "") or "",
        markexpr=getattr(option, "markexpr", "") or "", deselect=list(getattr(option, "deselect", None) or []),
        last_failed=bool(getattr(option, "lf", False)), not_claimed=not_claimed, by_design=by_design,
    )
    return result


def _count(items: list[pytest.Item]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        marker = item.get_closest_marker("requirement")
        if marker is not None and marker.args and in_suite(item):
            counts[marker.args[0]] = counts.get(marker.args[0], 0) + 1
    return counts


def _deselect_not_applicable(config: pytest.Config, items: list[pytest.Item], context) -> dict[str, list[str]]:
    """Drop what does not apply and what is not claimed; returns requirement id → the cases not
    claimed ("node id (needs realtime)")."""
    applicable = {r.id for r in applicable_requirements(context.profile, context.level)}
    claimed = set(context.claims.claimed)
    not_claimed: dict[str, list[str]] = {}
    keep, drop = [], []
    for item in items:
        markers = list(item.iter_markers("requirement"))
        if not in_suite(item):
            keep.append(item)
            continue
        if len(markers) != 1 or len(markers[0].args) != 1:
            raise pytest.UsageError(f"{item.nodeid}: a conformance test needs exactly one @pytest.mark.requirement(ID)")
        requirement_id = markers[0].args[0]
        requirement = get_requirement(requirement_id)
        if requirement is None:
            raise pytest.UsageError(f"{item.nodeid}: unknown requirement id {requirement_id!r} (not in the registry)")
        if item.get_closest_marker("not_applicable") is not None:  # e.g. realtime cases of a profile without them
            drop.append(item)
            continue
        if requirement_id not in applicable:
            drop.append(item)
            continue
        needed = {requirement.scope} | {str(m.args[0]) for m in item.iter_markers("scope") if m.args}
        missing = sorted(needed - claimed)
        if missing:
            not_claimed.setdefault(requirement_id, []).append(f"{item.nodeid} (needs {', '.join(missing)})")
            drop.append(item)
            continue
        keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    return not_claimed
