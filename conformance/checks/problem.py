"""A `Problem`: one thing a check found wrong, typed so every renderer can use it.

Why typed and not a string: the report, the terminal, the HAR evidence and replay all want to know
which requirement it breaks, which exchange it was seen on and what kind of problem it is, to group
identical ones ("no Retry-After header" on twelve 429s is one problem seen twelve times) and to
point at the exact request (schemathesis's `Failure`: title, code, the exchange). `str(problem)` is
the one-line message the suite always printed, so a failure reads as it did.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conformance.transport.client import Exchange


@dataclass(frozen=True)
class Problem:
    """`requirement`: the id it breaks ("" until the registry or the test it fails names it);
    `message`: the old one-line text (it names the exchange: `POST /v1/x → 429: …`, never a
    credential); `exchange`: where it was seen (not compared: the same problem on two exchanges is one
    problem); `title`: a short kind for grouping; `subject`: the header, JSON pointer or field it is
    about; `cites`: the sentence it breaks where that is not the requirement's own."""

    requirement: str
    message: str
    exchange: Exchange | None = field(default=None, compare=False, repr=False)
    title: str = ""
    subject: str = ""
    cites: str | None = None

    def __str__(self) -> str:
        return self.message

    @classmethod
    def at(cls, exchange: Exchange, text: str, *, title: str, subject: str = "", requirement: str = "",
           cites: str | None = None) -> Problem:
        """A problem seen on `exchange`: the message is `<exchange>: <text>`, as every check wrote it."""
        return cls(requirement, f"{exchange.describe()}: {text}", exchange, title, subject, cites)

    def for_requirement(self, requirement: str) -> Problem:
        """This problem filed under `requirement`, unless it already names one."""
        return self if self.requirement else replace(self, requirement=requirement)

    def to_dict(self, redact: Any = None) -> dict[str, Any]:
        """The report's shape (every key but `requirement`, `title` and `message` optional); `redact`
        (a `transport.redact.Redactor`) masks credentials in the message."""
        message = redact.text(self.message) if redact is not None else self.message
        data: dict[str, Any] = {"requirement": self.requirement, "title": self.title or message, "message": message}
        if self.subject:
            data["subject"] = self.subject
        if self.exchange is not None:
            data["exchange"] = {"method": self.exchange.method, "url": redact.text(self.exchange.url) if redact
                                is not None else self.exchange.url, "status": self.exchange.status}
        return data


def as_problems(items: Iterable[Problem | str], requirement: str = "") -> list[Problem]:
    """Problems from a list that may still hold plain strings (billing, fuzzing), each filed under
    `requirement` where it names none."""
    typed = [item if isinstance(item, Problem) else Problem("", item) for item in items]
    return [p.for_requirement(requirement) for p in typed] if requirement else typed


def grouped(problems: Sequence[Problem]) -> list[tuple[Problem, int]]:
    """Identical problems once each, in first-seen order, with how many times each was seen."""
    counts: dict[Problem, int] = {}
    for problem in problems:
        counts[problem] = counts.get(problem, 0) + 1
    return list(counts.items())


def one_line(problems: Sequence[Problem | str]) -> str:
    """Every problem on one line, identical ones once with a count: how a failure reads."""
    return "; ".join(str(p) + (f" (×{n})" if n > 1 else "") for p, n in grouped(as_problems(problems)))


class ProblemsFound(AssertionError):
    """A test's failure carrying its typed problems: the message reads as the suite's failures always
    did (every problem on one line, then the rule), and the recorder files `problems` with the result."""

    def __init__(self, problems: Sequence[Problem], suffix: str = "") -> None:
        super().__init__(one_line(problems) + suffix)
        self.problems = list(problems)

    def __reduce__(self) -> tuple[type[AssertionError], tuple[str]]:
        """Pickled (a copy crossing a process), it is the plain assertion it reads as."""
        return AssertionError, (str(self),)


def shared_citation(problems: Sequence[Problem]) -> str | None:
    """The sentence every problem cites instead of its requirement's, if they all cite the same one."""
    cited = {p.cites for p in problems}
    return cited.pop() if len(cited) == 1 else None
