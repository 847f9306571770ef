"""What the terminal shows for a failed conformance test: a vendor's view, not a suite developer's.

pytest's default failure output is written for whoever wrote the test: fixture reprs, forty lines
of test source, the assertion message and then its rewritten repeat. A vendor reading a red run
needs four things per failure, once each: which requirement (and how binding), what was wrong,
which sentence of their contract says so, and a curl line to reproduce it. `--tb=long` (or any
explicit `--tb`) still gives pytest's traceback for debugging the suite itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conformance.checks.problem import Problem
    from conformance.contract.profiles import Profile
    from conformance.transport.client import Exchange
    from conformance.transport.redact import Redactor

# The suite's `rule_suffix` fixture appends "\n  rule: …" to messages; pytest's rewriting re-indents it.
RULE_MARK = re.compile(r"\n\s*rule: ")
# A fuzz finding's message carries its own curl line: the block's `reproduce:` line shows it once.
CURL_TAIL = re.compile(r"; (shrunk example \(--hypothesis-seed -?\d+\)|reproduce): curl .*$", re.S)
PROBLEM_CHARS = 400


def problem_of(message: str) -> str:
    """The test's own message, without the rule it appended or pytest's rewritten `assert ...` repeat."""
    text = RULE_MARK.split(message, 1)[0]
    tail = CURL_TAIL.search(text)
    if tail:
        text = text[: tail.start()] + ("; " + tail.group(1) if tail.group(1).startswith("shrunk") else "")
    lines = []
    for line in text.strip().splitlines():
        if line.startswith("assert ") or line.startswith("+  where") or line.startswith(" +"):
            break
        if line.strip():
            lines.append(line.strip())
    problem = " ".join(lines[:2]) or "failed"
    return problem if len(problem) <= PROBLEM_CHARS else problem[: PROBLEM_CHARS - 1] + "…"


def contract_line(requirement_id: str, profile: Profile | None) -> str:
    """The contract sentence the requirement enforces, or — where the contract has none — its rationale."""
    from conformance.contract.requirements import get

    requirement = get(requirement_id)
    if requirement is None:
        return "(unknown requirement)"
    if profile is None or not requirement.listed_for(profile.id):
        return requirement.title
    return requirement.basis(profile.id).line()


def pick_exchange(candidates: Sequence[Exchange], problem: str) -> Exchange | None:
    """The exchange the problem talks about (its `POST /v1/… → 429` appears in the message), else the last judged."""
    for exchange in reversed(candidates):
        if exchange.describe() in problem:
            return exchange
    return candidates[-1] if candidates else None


def render(
    requirement_id: str,
    message: str,
    profile: Profile | None,
    exchanges: Sequence[Exchange],
    redactor: Redactor,
    problems: Sequence[Problem] = (),
) -> str:
    """`problems`: the failure's typed problems, when it has them: the first one's own exchange is the
    one to reproduce (else the exchange the message names, else the last judged), and how many
    distinct kinds there are is said when there are several."""
    from conformance.contract.requirements import get

    requirement = get(requirement_id)
    level = (requirement.level_for(profile.id) if requirement is not None and profile is not None
             and requirement.listed_for(profile.id) else "?")
    problem = problem_of(redactor.text(message))
    lines = [
        f"{requirement_id} ({level})",
        f"  problem:   {problem}",
        f"  contract:  {contract_line(requirement_id, profile)}",
    ]
    kinds = {p.title or p.message for p in problems}
    if len(kinds) > 1:
        lines.insert(2, f"  kinds:     {len(problems)} problems of {len(kinds)} kinds: " + "; ".join(sorted(kinds))[:300])
    exchange = next((p.exchange for p in problems if p.exchange is not None), None) or pick_exchange(exchanges, problem)
    if exchange is not None:
        lines.append(f"  reproduce: {exchange.curl(redactor)}")
    else:
        lines.append("  reproduce: (this test sent no HTTP request of its own; see the report's evidence)")
    return "\n".join(lines)
