"""Fuzz checks (FUZ-2): every answer, to whatever request, comes within the client's deadline."""

from __future__ import annotations

from conformance.checks.problem import Problem
from conformance.checks.registry import check
from conformance.transport.client import Exchange


@check("FUZ-2", whole_run=True)
def timeout_problems(exchange: Exchange) -> list[Problem]:
    """FUZ-2: the answer came within the client's deadline — unless another requirement made it slow
    on purpose (UPS-8's stalled provider is a SHOULD: its exchange is judged there, at its level)."""
    if exchange.slow_on_purpose:
        return []
    if exchange.error and exchange.error.startswith("timed out"):
        return [Problem.at(exchange, f"no complete answer in time ({exchange.error})", title="no answer in time")]
    return []
