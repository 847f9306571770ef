"""Per-test plumbing for conformance runs that is not about results: a progress line as each
requirement family starts (a 10-minute run against a remote gateway should say what it is doing),
and clean JUnit properties for `--junitxml`: each test case carries its requirement id and level,
and structured user properties (the result dict with its evidence) never reach the XML.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from conformance.contract.requirements import get as get_requirement
from conformance.quarantine import junit_xml
from conformance.report.render.junit import clean_user_properties
from conformance.runner.stash import CONTEXT, JUNIT_CLEANED

GROUP_TITLES = {
    "ENV": "error envelope", "HDR": "headers", "MAP": "status and code mapping", "RTY": "retry rules",
    "CHG": "not charged", "PRB": "problem+json (management)", "FUZ": "fuzzing", "SEC": "credential hygiene",
    "UPS": "when the provider fails",
}


def family(requirement_id: str) -> str:
    """`MAP-3` → `MAP`: headings follow the requirement a test checks, not the file it sits in
    (`test_realtime.py` checks MAP-3, `test_streaming.py` ENV-6, `test_retry.py` HDR-4 too)."""
    return requirement_id.split("-")[0]


class ConformanceReporting:
    def __init__(self, config: pytest.Config, controller: bool) -> None:
        self.config = config
        self.controller = controller
        self.groups_of: dict[str, str] = {}
        self.announced: set[str] = set()
        self.current: str | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            marker = item.get_closest_marker("requirement")
            if marker is not None and marker.args:
                self.groups_of[item.nodeid] = family(str(marker.args[0]))

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        marker = item.get_closest_marker("requirement")
        requirement = get_requirement(marker.args[0]) if marker is not None and marker.args else None
        if requirement is not None and not any(name == "requirement" for name, _ in item.user_properties):
            context = self.config.stash.get(CONTEXT, None)
            profile = context.profile if context is not None else None
            props = [("requirement", requirement.id)]
            if profile is not None and requirement.listed_for(profile.id):
                basis = requirement.basis(profile.id)
                props += [("level", basis.level), ("basis", basis.basis)]
            item.user_properties += [*props, ("scope", requirement.scope)]

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        group = self.groups_of.get(nodeid)
        if group is not None:
            self._announce(group)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not self.controller:
            return
        if not self.groups_of:  # xdist controller: no collection here, learn the group from results
            for name, value in report.user_properties:
                if name == "requirement" and isinstance(value, str):
                    self._announce(family(value), once=True)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.controller:  # every plugin is configured by now, the JUnit writer included
            clean_junit_properties(session.config)

    def _announce(self, group: str, once: bool = False) -> None:
        """A heading whenever the family changes (a family met again says `continued`); `once`: an
        xdist controller learns families from results that arrive interleaved, so one heading each."""
        if not self.controller or group == self.current or (once and group in self.announced):
            return
        again = group in self.announced
        self.current = group
        self.announced.add(group)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and self.config.get_verbosity() >= -1:
            if getattr(reporter._tw, "width_of_current_line", 0):  # -q prints dots without a newline
                reporter._tw.line()
            title = GROUP_TITLES.get(group, "") + (" (continued)" if again else "")
            reporter.write_line(f"gateway-conformance: {group} {title} …".replace("  ", " "), cyan=True)


def clean_junit_properties(config: pytest.Config) -> None:
    """Let pytest's `--junitxml` see only scalar user properties (requirement, level), never a dict.

    Only the JUnit writer's view is filtered (its `finalize` gets a copy of the report): other
    plugins reading structured `user_properties` (results, observer findings) still see them whole.
    """
    xml = junit_xml(config)
    if xml is None or config.stash.get(JUNIT_CLEANED, False):
        return
    finalize = xml.finalize

    def clean_finalize(report: Any) -> None:
        view = copy.copy(report)
        view.user_properties = clean_user_properties(list(getattr(report, "user_properties", [])))
        finalize(view)

    xml.finalize = clean_finalize
    config.stash[JUNIT_CLEANED] = True
