"""The keys under which a run keeps its state in `config.stash` and `item.stash` (no module globals)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the keys' value types only: no import at run time (session.py imports this module)
    from conformance.runner.context import RunContext
    from conformance.runner.selection import Selection
    from conformance.runner.session import SessionState
    from conformance.transport.client import Exchange, GatewayClient
    from conformance.transport.redact import Redactor

# config.stash: the whole run
CONTEXT: pytest.StashKey[RunContext] = pytest.StashKey()
REDACTOR: pytest.StashKey[Redactor] = pytest.StashKey()
STATE: pytest.StashKey[SessionState] = pytest.StashKey()
SELECTION: pytest.StashKey[Selection] = pytest.StashKey()
CLIENT: pytest.StashKey[GatewayClient] = pytest.StashKey()  # the suite's one client, once its session fixture made it
PENDING = pytest.StashKey[list[dict[str, Any]]]()  # results received before the session state folds them in
HAR_PENDING = pytest.StashKey[list[dict[str, Any]]]()  # HAR entries received (controller), for --evidence-har
HAR_CURSOR = pytest.StashKey[int]()  # index of the client's first exchange not yet put in a HAR entry
HAR_IDS = pytest.StashKey[dict[int, str]]()  # id(exchange) → its HAR entry id (this process)
JUNIT_CLEANED = pytest.StashKey[bool]()
# nodeid → the test modules whose `gather_ahead` starts at that test's setup (conftest `_gather_ahead`)
AHEAD_PLAN = pytest.StashKey[dict[str, list[Any]]]()
AHEAD_COUNTED = pytest.StashKey[int]()  # the requests gathered ahead already counted in a test's result

# item.stash: one test
EXCHANGE_MARK = pytest.StashKey[int]()  # index of the client's first exchange this test sent
SENT_MARK = pytest.StashKey[int]()  # the budget's count when this test's setup began
CITED = pytest.StashKey[list["Exchange"]]()  # what the test named as its evidence (`outcomes.cite`)

# The user property that carries a test's result from a worker's report to the controller.
RESULT_PROPERTY = "gateway_conformance"
