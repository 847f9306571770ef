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


# What no text this suite publishes may carry, and what no gateway's error message may reveal, in
# one table: (kind, what it looks like, pattern). `credential`: common vendors' key shapes, bearer
# tokens, private keys, `api_key` values, scanned for in a certificate bundle before it is
# published (a masked one, `sk-…REDACTED`, never matches). `internal`: what an error message must
# not reveal of the gateway's insides (ENV-5).
_TELLING: tuple[tuple[str, str, str], ...] = (
    ("credential", "an sk- API key", r"\b(?:sk|pk|rk)[-_](?!…)[A-Za-z0-9_\-]{16,}"),
    ("credential", "a bearer token", r"(?i)\bbearer\s+(?![^\s\"']*REDACTED)[A-Za-z0-9._~+/=\-]{20,}"),
    ("credential", "an AWS access key id", r"\bAKIA[0-9A-Z]{16}\b"),
    ("credential", "a GitHub token", r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
    ("credential", "a Slack token", r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    ("credential", "a private key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    ("credential", "an api_key value", r"(?i)\"api[_-]?key\"\s*:\s*\"(?![^\"]*REDACTED)[^\"]{8,}\""),
    ("internal", "a Python traceback", r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+"),
    ("internal", "a Java/JS stack frame", r"\bat [\w.$<>]+\([\w.]+\.(?:java|kt|scala|js|ts|mjs):\d+(?::\d+)?\)"),
    ("internal", "a Go panic", r"goroutine \d+ \[|panic: runtime error"),
    ("internal", "a file path",
     r"(?<![\w.:/-])/(?:usr|home|srv|opt|var|app|etc|root|tmp|lib|workspace|code)/[\w.@/-]+"),
    ("internal", "a Windows path", r"\b[A-Za-z]:\\[\w\\. -]+"),
    ("internal", "a source file", r"\b[\w-]+\.(?:py|pyc|js|ts|go|java|rb|php|rs|cs):\d+\b"),
    # Not the domain of an e-mail address ("write to billing@acme.corp" names a mailbox, not a host).
    ("internal", "an internal host name",
     r"(?i)(?<![@\w.-])[\w-]+(?:\.[\w-]+)*\.(?:internal|local|lan|corp|intranet|svc|cluster\.local)\b"),
    ("internal", "a private address", r"\b(?:10|127|192\.168|172\.(?:1[6-9]|2\d|3[01]))(?:\.\d{1,3}){2,3}(?::\d+)?\b"),
    ("internal", "localhost", r"(?i)\blocalhost:\d+\b"),
)


def _patterns(kind: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((what, re.compile(pattern)) for k, what, pattern in _TELLING if k == kind)


CREDENTIAL_PATTERNS = _patterns("credential")  # certify.verify's scan of a bundle
INTERNAL_PATTERNS = _patterns("internal")  # checks.envelope's ENV-5


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
