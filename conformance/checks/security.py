"""Security checks (SEC-1): a response never echoes the credential the request presented."""

from __future__ import annotations

from conformance.checks.registry import check
from conformance.transport.client import Exchange

ECHO_ALLOWANCE = 8
MIN_DISTINCT_CHARS = 4


def echoes_credential(haystack: str, credential: str) -> bool:
    """Whether more than a masked 8-character fragment of `credential` appears in `haystack`."""
    window = ECHO_ALLOWANCE + 1
    if len(credential) < window:
        return credential in haystack if len(credential) >= 4 else False
    # A fragment of too few distinct characters ("000000000") is not evidence of an echo: it turns
    # up in costs and timestamps by chance (LiteLLM's `x-litellm-response-cost: 5.000000000000001e-05`).
    return any(
        fragment in haystack
        for fragment in (credential[i : i + window] for i in range(len(credential) - window + 1))
        if len(set(fragment)) >= MIN_DISTINCT_CHARS
    )


@check("SEC-1")
def credential_echo_problems(exchange: Exchange) -> list[str]:
    """SEC-1: neither the body nor any header echoes a credential the request presented."""
    if exchange.status is None:
        return []
    problems = []
    body = exchange.text
    header_text = "\n".join(f"{k}: {v}" for k, v in exchange.headers.multi_items())
    for credential in exchange.presented_credentials:
        if echoes_credential(body, credential):
            problems.append(f"{exchange.describe()}: the response body echoes the presented credential")
        if echoes_credential(header_text, credential):
            problems.append(f"{exchange.describe()}: a response header echoes the presented credential")
    return problems
