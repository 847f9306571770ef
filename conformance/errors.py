"""The errors a user can cause, each rendered as one readable line.

Anything raised as a `ConformanceError` ends the run with its message and nothing else: no
traceback wall. Messages name the file / field / URL at fault and never carry a credential.
"""

from __future__ import annotations


class ConformanceError(Exception):
    """A problem with the user's input or target, reported as one line."""

    def __str__(self) -> str:  # one line, whatever the cause carried
        return " ".join(str(self.args[0] if self.args else "").split())


class ConfigError(ConformanceError):
    """A target config or profile that does not load or validate."""


class ConfigErrors(ConfigError):
    """Several problems with one input (every schema error of a config): one line each."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)

    def __str__(self) -> str:
        return "\n".join(" ".join(line.split()) for line in self.lines)
