"""Every use of another library's private API, in one place.

Why quarantine them: a private name can move in any release. Kept here, each one is named in
`PRIVATE_APIS`, a self-test (`tests/test_quarantine.py`) checks every one still exists in the
installed versions, and a change breaks one small module instead of the suite. Imports happen in
the functions, so importing this module costs nothing.
"""

from __future__ import annotations

from typing import Any, Callable

# (library, dotted path of the private name, what the suite loses without it)
PRIVATE_APIS: tuple[tuple[str, str, str], ...] = (
    ("pytest", "_pytest.junitxml.xml_key",
     "--junitxml would receive the structured result dicts instead of scalar requirement properties"),
    ("httpx", "httpx.HTTPTransport._pool",
     "the overall per-request deadline (a target dripping headers byte by byte) falls back to per-read timeouts"),
    ("httpcore", "httpcore.ConnectionPool._network_backend", "as for httpx.HTTPTransport._pool"),
    ("openai", "openai._models.FinalRequestOptions", "RTY-3 cannot ask the SDK for its retry decision"),
    ("openai", "openai.OpenAI._should_retry", "RTY-3 cannot ask the SDK whether it retries a response"),
    ("openai", "openai.OpenAI._calculate_retry_timeout", "RTY-3 cannot ask the SDK how long it waits"),
)


def junit_xml(config: Any) -> Any:
    """pytest's `LogXML` object for this run, or None (no `--junitxml`, or pytest moved it)."""
    try:
        from _pytest.junitxml import xml_key
    except ImportError:
        return None
    return config.stash.get(xml_key, None)


def wrap_network_backend(transport: Any, wrap: Callable[[Any], Any]) -> bool:
    """Replace the socket backend under an `httpx.HTTPTransport` with `wrap(backend)`; False when
    httpx/httpcore no longer have the layout (the caller keeps the plain transport)."""
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if backend is None:
        return False
    pool._network_backend = wrap(backend)
    return True


def openai_retry_decision(sdk: Any, response: Any) -> tuple[bool, float]:
    """The official SDK's own retry decision for `response`: (retries it, seconds it waits)."""
    from openai._models import FinalRequestOptions

    options = FinalRequestOptions.construct(method="post", url="/x")
    return sdk._should_retry(response), sdk._calculate_retry_timeout(2, options, response.headers)
