"""One server zygote per self-test session (`conformance.servers.zygote`): every reference gateway
and provider the session starts, in a worker or in a suite run's child, forks from it instead of
re-importing the server stack (~1 CPU-s a start, a few hundred starts a session).

The xdist controller starts it in `pytest_configure`, before the workers exist, and names it in
the environment (`ZYGOTE_ENV`), which the workers and their suite runs inherit. Without it (it did
not start) every server starts as a fresh process, as it always did. Its children's CPU no longer
reaches a suite run's RUSAGE_CHILDREN, so the session's cost ledger gets it as a line of its own.
"""

from __future__ import annotations

import os

import pytest

from conformance.servers.zygote_client import ZYGOTE_ENV, Zygote, ZygoteUnavailable, stats
from tests import runcost

_ZYGOTE = pytest.StashKey[Zygote]()


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or os.environ.get(ZYGOTE_ENV):  # a worker, or a session inside one
        return
    try:
        zygote = Zygote().start()
    except ZygoteUnavailable as exc:
        print(f"{exc}; servers start as fresh processes")
        return
    assert zygote.socket_path is not None
    os.environ[ZYGOTE_ENV] = zygote.socket_path
    config.stash[_ZYGOTE] = zygote


@pytest.hookimpl(tryfirst=True)
def pytest_terminal_summary(config: pytest.Config) -> None:
    """Before the ledger is summed: the servers the zygote forked, and their CPU seconds."""
    zygote = config.stash.get(_ZYGOTE, None)
    if zygote is None or zygote.socket_path is None:
        return
    try:
        forked = stats(zygote.socket_path)
    except (OSError, ValueError):
        return
    if forked["forked"]:
        runcost.record("servers forked by the zygote", int(forked["forked"]), float(forked["cpu_s"]))


def pytest_unconfigure(config: pytest.Config) -> None:
    zygote = config.stash.get(_ZYGOTE, None)
    if zygote is not None:
        os.environ.pop(ZYGOTE_ENV, None)
        zygote.stop()
