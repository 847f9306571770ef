"""Mask every credential before it can reach a report, a log, a failure message or a curl line.

Known secrets (every key in the target config, and every credential a test presents) are replaced
wherever they occur; authorization-like headers are masked whatever they hold, because a test may
present a credential the config never named (an 8 KB fuzzed bearer token, say).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping

SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie", "openai-api-key"}
)
MASK = "…REDACTED"
_PREFIX = 3


def mask(secret: str) -> str:
    """`sk-…REDACTED`: a short prefix helps a reader tell keys apart without revealing them."""
    return secret[:_PREFIX] + MASK if len(secret) > 8 else "REDACTED"


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        # secret → how a reproduce line puts it back: `$GW_RATE_LIMITED` (the config read it from
        # that variable) or a pointer to where it lives (`roles.rate_limited.api_key`).
        self._hints: dict[str, tuple[str | None, str]] = {}
        self.add(*secrets)

    def hint(self, secret: str | None, *, variable: str | None, where: str) -> None:
        """Say where `secret` comes from, so a masked reproduce line can name what to put back."""
        if secret:
            self._hints[secret] = (variable, where)

    def hint_for(self, secret: str) -> tuple[str | None, str] | None:
        return self._hints.get(secret)

    def add(self, *secrets: str | None) -> None:
        with self._lock:
            new = {s for s in secrets if s and len(s) >= 4 and s not in self._secrets}
            if not new:
                return
            self._secrets |= new
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def text(self, value: str) -> str:
        pattern = self._pattern
        if pattern is None or not value:
            return value
        return pattern.sub(lambda m: mask(m.group(0)), value)

    def header_value(self, name: str, value: str) -> str:
        if name.lower() in SENSITIVE_HEADERS:
            scheme, _, credential = value.partition(" ")
            if credential:
                return f"{scheme} {mask(credential.strip())}"
            return mask(value)
        return self.text(value)

    def headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
        items = headers.items() if isinstance(headers, Mapping) else headers
        out: dict[str, str] = {}
        for name, value in items:
            out[name] = self.header_value(name, value)
        return out
