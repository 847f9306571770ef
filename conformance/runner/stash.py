"""The keys under which a run keeps its state in `config.stash` (no module globals)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conformance.runner.context import RunContext
    from conformance.transport.redact import Redactor
    from conformance.runner.selection import Selection
    from conformance.runner.session import SessionState

CONTEXT = pytest.StashKey["RunContext"]()
REDACTOR = pytest.StashKey["Redactor"]()
STATE = pytest.StashKey["SessionState"]()
SELECTION = pytest.StashKey["Selection"]()
# The user property that carries a test's result from a worker's report to the controller.
RESULT_PROPERTY = "gateway_conformance"
