"""The garbage collector during a conformance run: out of the way of what lives as long as the run.

Why: a run's heap is mostly what start-up and collection built and keep to the end (hypothesis,
schemathesis, the SDK, the profile, the items). Every full collection walks all of it, and pytest
makes five at its end (to report exceptions raised in finalizers): ~0.5 s of a ~6 s bare run,
spent after the verdict. Frozen (`gc.freeze`), it is never walked again; what the tests make is
still collected, and still reported if a finalizer raises.
"""

from __future__ import annotations

import gc

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    gc.freeze()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Once everything is torn down: one collection (what the run left behind, its finalizers'
    exceptions reported as before), then freeze, so pytest's five after it walk nothing."""
    gc.collect()
    gc.freeze()
