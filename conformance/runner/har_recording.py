"""`--evidence-har`: each test's exchanges as HAR entries, carried on its report like its result.

Every exchange the client sent since the previous test's entries belongs to this test (a session
fixture's requests go to the test that first needed them); an exchange an earlier test sent and
this one cited (a shared scenario) becomes a reference, so the controller can list every test
that judged it. Runs in each xdist worker; the controller writes the file (`write_har`).
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.certify import har
from conformance.runner.context import RunContext
from conformance.runner.stash import HAR_CURSOR, HAR_IDS, HAR_PENDING
from conformance.transport.client import Exchange, GatewayClient
from conformance.transport.redact import Redactor

_ROLES = pytest.StashKey[dict[str, str]]()


def har_items(item: pytest.Item, client: GatewayClient, context: RunContext, redactor: Redactor,
              requirement: str, cited: list[Exchange]) -> list[dict[str, Any]]:
    from conformance.runner import observer

    config = item.config
    roles = config.stash.get(_ROLES, None)
    if roles is None:
        roles = config.stash[_ROLES] = har.role_names(context.config.roles)
    ids = config.stash.setdefault(HAR_IDS, {})
    cursor = config.stash.get(HAR_CURSOR, 0)
    sent = client.exchanges[cursor:]
    config.stash[HAR_CURSOR] = cursor + len(sent)
    watcher = observer.observing(client)
    worker = getattr(config, "workerinput", {}).get("workerid", "c")
    items: list[dict[str, Any]] = []
    for exchange in sent:
        uid = ids[id(exchange)] = f"{worker}-{len(ids) + 1}"
        # Gathered ahead in the background while this test ran: no test of its own sent it, the
        # tests that read it cite it (`_citedBy`).
        test, judged_by = (item.nodeid, requirement) if exchange.ahead is None else (
            f"gathered ahead: {exchange.ahead}", "")
        items.append(har.entry(exchange, redactor, uid=uid, test=test, requirement=judged_by, roles=roles,
                               inference=bool(watcher and watcher.is_inference(exchange))))
    for exchange in cited:
        ref = ids.get(id(exchange))
        if ref is not None and (exchange not in sent or exchange.ahead is not None):
            items.append({"_ref": ref, "_test": item.nodeid, "_requirement": requirement})
    return items


def write_har(config: pytest.Config, base_url: str) -> None:
    path = getattr(config.option, "conformance_evidence_har", None)
    if not path:
        return
    items = config.stash.get(HAR_PENDING, [])
    har.write(har.document(har.merge_references(items), base_url=base_url), path)
