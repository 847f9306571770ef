"""Pure checks: one exchange (and the profile) in, a list of problems out.

The same functions serve the targeted tests and the whole-run observer, so a rule is written once.
Each problem is one line naming the exchange (`POST /v1/x → 429: …`) and never a credential.
One module per family, each registering its checks by requirement id (`checks.registry`);
this package imports every family, so the registry is complete once `conformance.checks` is
imported, and re-exports the per-exchange checks the suite calls by name.
"""

from conformance.checks import fuzz, problem_json, rate_window, retry, sse  # noqa: F401  (they register their checks)
from conformance.checks.envelope import (
    JSON_TYPES,
    code_of,
    code_problems,
    envelope,
    envelope_problems,
    has_envelope_shape,
    is_error,
    message_leak_problems,
    message_problems,
    status_problems,
)
from conformance.checks.headers import (
    duplicate_request_ids,
    rate_limit_header_problems,
    request_id_problems,
    retry_after_problems,
)
from conformance.checks.security import credential_echo_problems, echoes_credential
from conformance.protocol.retry_after import parse_retry_after

__all__ = [
    "JSON_TYPES", "code_of", "code_problems", "credential_echo_problems", "duplicate_request_ids", "echoes_credential",
    "envelope", "envelope_problems", "has_envelope_shape", "is_error", "message_leak_problems", "message_problems",
    "parse_retry_after", "rate_limit_header_problems", "request_id_problems", "retry_after_problems",
    "status_problems",
]
