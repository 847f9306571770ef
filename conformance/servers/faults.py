"""The fault catalogue: which failure a request's model name asks the provider to play.

The model name is the one thing every gateway forwards upstream, so it carries the fault:
`gwc-fault/<name>` plays `<name>`; any other model answers normally (with usage). A gateway that
rewrites model names maps its own names onto these in its routing table (the target config's
`provider.models` tells the suite which name to send for which fault).

Numbers the suite compares against (the provider's Retry-After values) live here, so the
provider and the tests read one source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FAULT_PREFIX = "gwc-fault/"
OK_MODEL = "gwc-ok"

RETRY_AFTER_S = 7  # `429`, `429-bare`: Retry-After as delta-seconds
RETRY_AFTER_DATE_S = 30  # `429-date`: Retry-After as an HTTP-date this far ahead
RETRY_AFTER_LONG_S = 300  # `429-long`: above the 120 s a client would wait unasked
DEFAULT_SLOW_S = 600.0  # `slow`: longer than any gateway's upstream timeout
DEFAULT_CUT_EVENTS = 3  # `cut`: events sent before the connection is dropped
OVERSIZED_BYTES = 8 * 1024 * 1024  # `oversized`: a 200 answer this large

ERROR_STATUSES = (500, 502, 503, 504)


@dataclass(frozen=True)
class Fault:
    """One fault: its catalogue name, kind, and the one number some kinds take."""

    name: str
    kind: str  # ok, error, error_empty, rate_limited, auth, reset, slow, cut, malformed_sse, malformed_json, oversized, flaky
    status: int = 200
    number: float = 0.0


class UnknownFault(ValueError):
    """A `gwc-fault/...` model naming no fault: answered 400 with the catalogue, never a crash."""


# name → (description) for the listing at GET /_provider/faults and the README.
CATALOGUE: dict[str, str] = {
    **{str(s): f"{s} with an OpenAI-shaped JSON error body (naming the provider's internal address)" for s in ERROR_STATUSES},
    **{f"{s}-empty": f"{s} with an empty body" for s in ERROR_STATUSES},
    "429": f"429 with Retry-After: {RETRY_AFTER_S} (seconds) and x-ratelimit-* headers",
    "429-date": f"429 with Retry-After as an HTTP-date {RETRY_AFTER_DATE_S} s ahead and x-ratelimit-* headers",
    "429-long": f"429 with Retry-After: {RETRY_AFTER_LONG_S} (above 120 s) and x-ratelimit-* headers",
    "429-bare": f"429 with Retry-After: {RETRY_AFTER_S} and no rate-limit headers",
    "401": "401 invalid_api_key about the gateway's own provider key (quoting the key, as real providers do)",
    "403": "403 permission denied for the gateway's own provider key (quoting the key)",
    "reset": "the connection is reset (TCP RST) before any response header",
    "slow": f"the first byte comes after {DEFAULT_SLOW_S:g} s (slow-N: after N s), then a normal answer",
    "cut": f"a stream cut (connection dropped) after {DEFAULT_CUT_EVENTS} events (cut-N: after N); "
           "without stream, the body is cut half-way",
    "malformed-sse": "a stream whose second event is not JSON and that never sends [DONE]; without stream, "
                     "as malformed-json",
    "malformed-json": "200 application/json whose body is not JSON",
    "oversized": f"200 answer of {OVERSIZED_BYTES // (1024 * 1024)} MiB",
    "flaky": "503 the first time a request body is seen, a normal answer on every repeat (an upstream retry succeeds)",
}

_NUMBERED = re.compile(r"^(slow|cut)-(\d+(?:\.\d+)?)$")


def parse(model: str) -> Fault:
    """The fault a model name asks for; a model outside `gwc-fault/` answers normally."""
    if not model.startswith(FAULT_PREFIX):
        return Fault("ok", "ok")
    name = model[len(FAULT_PREFIX):]
    if name in ("500", "502", "503", "504"):
        return Fault(name, "error", int(name))
    if name.endswith("-empty") and name[:3] in ("500", "502", "503", "504") and len(name) == 9:
        return Fault(name, "error_empty", int(name[:3]))
    if name in ("429", "429-date", "429-long", "429-bare"):
        return Fault(name, "rate_limited", 429)
    if name in ("401", "403"):
        return Fault(name, "auth", int(name))
    if name in ("reset", "malformed-sse", "malformed-json", "oversized", "flaky"):
        return Fault(name, name.replace("-", "_"))
    if name == "slow":
        return Fault(name, "slow", number=DEFAULT_SLOW_S)
    if name == "cut":
        return Fault(name, "cut", number=DEFAULT_CUT_EVENTS)
    match = _NUMBERED.match(name)
    if match:
        return Fault(name, match.group(1), number=float(match.group(2)))
    shown = name if len(name) <= 60 and name.isprintable() else name[:60].encode("unicode_escape").decode() + "…"
    raise UnknownFault(f"unknown fault {shown!r}; known faults: {', '.join(CATALOGUE)} (and slow-N, cut-N)")


def model_for(fault: str, mapping: dict[str, str] | None = None) -> str:
    """The model name the client sends for `fault` ("ok" is the success model): mapped, or the default."""
    if mapping and fault in mapping:
        return str(mapping[fault])
    return OK_MODEL if fault == "ok" else FAULT_PREFIX + fault
