"""Security checks (SEC-1): a response never echoes the credential the request presented.

What must not come back is the credential's *secret part*. A key's public prefix (`sk-`, `pk_`,
`pyai_test_`) and readable words in it (`sk-…-concurrency-limited-…`) are not secret: a message
saying "Too many concurrent realtime sessions" or "use a pyai_test_ key" shares them by chance,
and a challenge `WWW-Authenticate: Bearer realm=…` names the scheme, which is no credential at all.
"""

from __future__ import annotations

import re

from conformance.checks.problem import Problem
from conformance.checks.registry import check
from conformance.transport.client import Exchange

ECHO_ALLOWANCE = 8
MIN_DISTINCT_CHARS = 4
# A separator-delimited segment of lowercase letters only is a readable word (a prefix such as
# `sk`, `pyai`, `test` or a label), never the random part: 20+ random characters are never all
# lowercase letters.
_SEGMENT = re.compile(r"[^-_.:/]+")
_WORD = re.compile(r"[a-z]{1,24}")


def secret_spans(credential: str) -> list[str]:
    """The credential's secret part: runs of segments that are not readable words (the whole
    credential if every segment reads as a word, e.g. a lowercase passphrase)."""
    spans: list[str] = []
    start: int | None = None
    end = 0
    for match in _SEGMENT.finditer(credential):
        if _WORD.fullmatch(match.group(0)):
            if start is not None:
                spans.append(credential[start:end])
                start = None
            continue
        if start is None:
            start = match.start()
        end = match.end()
    if start is not None:
        spans.append(credential[start:end])
    return spans or [credential]


def echoes_credential(haystack: str, credential: str) -> bool:
    """Whether more than a masked 8-character fragment of the credential's secret part appears."""
    window = ECHO_ALLOWANCE + 1
    for secret in secret_spans(credential):
        if len(secret) < window:
            if len(secret) >= 4 and len(credential) < window and secret in haystack:
                return True
            continue
        # A fragment of too few distinct characters ("000000000") is not evidence of an echo: it
        # turns up in costs and timestamps by chance (LiteLLM's `x-litellm-response-cost: 5.000000000000001e-05`).
        fragments = [secret[i : i + window] for i in range(len(secret) - window + 1)]
        telling = [f for f in fragments if len(set(f)) >= MIN_DISTINCT_CHARS]
        if any(f in haystack for f in telling) or (not telling and secret in haystack):
            return True
    return False


@check("SEC-1")
def credential_echo_problems(exchange: Exchange) -> list[Problem]:
    """SEC-1: neither the body nor any header echoes a credential the request presented."""
    if exchange.status is None:
        return []
    problems: list[Problem] = []
    body = exchange.text
    header_text = "\n".join(f"{k}: {v}" for k, v in exchange.headers.multi_items())
    for credential in exchange.presented_credentials:
        if echoes_credential(body, credential):
            problems.append(Problem.at(exchange, "the response body echoes the presented credential",
                                       title="credential echoed", subject="body"))
        if echoes_credential(header_text, credential):
            problems.append(Problem.at(exchange, "a response header echoes the presented credential",
                                       title="credential echoed", subject="headers"))
    return problems
