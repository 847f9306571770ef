"""Envelope checks (ENV-1..5): the error body clients parse, its code, status and message.

The same functions serve the targeted tests and the whole-run observer, so a rule is written once.
Each problem is one line naming the exchange (`POST /v1/x → 429: …`) and never a credential.
"""

from __future__ import annotations

from typing import Any

from conformance.checks.problem import Problem
from conformance.checks.registry import check
from conformance.contract.profiles import Profile, resolve_pointer
from conformance.contract.schemas import describe, first_error
from conformance.transport.client import NOT_JSON, Exchange, source_addresses
from conformance.transport.redact import INTERNAL_PATTERNS

JSON_TYPES = ("application/json",)

def is_error(exchange: Exchange) -> bool:
    return exchange.status is not None and exchange.status >= 400


def envelope(exchange: Exchange) -> Any:
    body = exchange.json()
    return None if body is NOT_JSON else body


def has_envelope_shape(exchange: Exchange, profile: Profile) -> bool:
    """Whether ENV-2..5 can read this body at all (if not, that is ENV-1's failure, not theirs)."""
    body = envelope(exchange)
    found, _ = resolve_pointer(body, profile.message_pointer) if isinstance(body, dict) else (False, None)
    return found


def readable_error(exchange: Exchange, profile: Profile) -> bool:
    """An error response whose envelope can be read (else ENV-1 reports it and the rest say nothing)."""
    return is_error(exchange) and has_envelope_shape(exchange, profile)


@check("ENV-1", whole_run=True, applies=lambda exchange, profile: is_error(exchange))
def envelope_problems(exchange: Exchange, profile: Profile) -> list[Problem]:
    """ENV-1: status >= 400 → application/json body valid against the profile's envelope schema."""
    problems: list[Problem] = []
    if exchange.content_type not in JSON_TYPES:
        problems.append(Problem.at(exchange, f"Content-Type is {exchange.content_type or '(none)'!r}, not application/json",
                                   title="error body not declared application/json", subject="Content-Type"))
    body = envelope(exchange)
    if body is None:
        snippet = exchange.text[:80].replace("\n", " ")
        problems.append(Problem.at(exchange, f"body is not JSON ({snippet!r})", title="error body is not JSON"))
        return problems
    error = first_error(body, profile.envelope_schema)
    if error is not None:
        problems.append(Problem.at(exchange, f"body does not match {profile.envelope_schema}: {describe(error)}",
                                   title="error body does not match the envelope schema", subject=profile.envelope_schema))
    return problems


def code_of(exchange: Exchange, profile: Profile) -> tuple[bool, Any]:
    return profile.error_code(envelope(exchange))


@check("ENV-2", whole_run=True, applies=lambda exchange, profile: readable_error(exchange, profile))
def code_problems(exchange: Exchange, profile: Profile) -> list[Problem]:
    """ENV-2: a catalogued code, or anything/null only where the status is left open."""
    found, code = code_of(exchange, profile)
    status = exchange.status or 0
    if profile.is_open_status(status):
        if found and code is not None and not isinstance(code, str):
            return [Problem.at(exchange, f"code at {profile.code_pointer} is {code!r}, not a string or null",
                               title="code is not a string or null", subject=profile.code_pointer)]
        return []
    if not found:
        return [Problem.at(exchange, f"no code at {profile.code_pointer}; status {status} needs a catalogued code",
                           title="no error code", subject=profile.code_pointer)]
    if not isinstance(code, str) or profile.code(code) is None:
        catalogued = ", ".join(c.code for c in profile.codes)
        return [Problem.at(exchange, f"code {code!r} is not in the catalogue ({catalogued}) and {status} is not an open status",
                           title="code not in the catalogue", subject=profile.code_pointer)]
    return []


@check("ENV-3", whole_run=True, applies=lambda exchange, profile: readable_error(exchange, profile))
def status_problems(exchange: Exchange, profile: Profile) -> list[Problem]:
    """ENV-3: a catalogued code travels with the catalogue's status."""
    found, code = code_of(exchange, profile)
    if not found or not isinstance(code, str):
        return []
    entry = profile.code(code)
    if entry is None or entry.status == exchange.status:
        return []
    return [Problem.at(exchange, f"code {code!r} is catalogued with status {entry.status}, sent with {exchange.status}",
                       title="status does not match the code's", subject=profile.code_pointer)]


@check("ENV-4", whole_run=True, applies=lambda exchange, profile: readable_error(exchange, profile))
def message_problems(exchange: Exchange, profile: Profile) -> list[Problem]:
    """ENV-4: message is a non-empty string."""
    body = envelope(exchange)
    found, message = resolve_pointer(body, profile.message_pointer) if isinstance(body, dict) else (False, None)
    if not found:
        return [Problem.at(exchange, f"no message at {profile.message_pointer}", title="no error message",
                           subject=profile.message_pointer)]
    if not isinstance(message, str) or not message.strip():
        return [Problem.at(exchange, f"message at {profile.message_pointer} is {message!r}, not a non-empty string",
                           title="error message empty or not a string", subject=profile.message_pointer)]
    return []


@check("ENV-5", applies=lambda exchange, profile: readable_error(exchange, profile))
def message_leak_problems(exchange: Exchange, profile: Profile) -> list[Problem]:
    """ENV-5: no stack trace, file path or internal host name in the message."""
    body = envelope(exchange)
    found, message = resolve_pointer(body, profile.message_pointer) if isinstance(body, dict) else (False, None)
    if not found or not isinstance(message, str):
        return []
    callers = source_addresses(exchange.url)
    for what, pattern in INTERNAL_PATTERNS:
        for match in pattern.finditer(message):
            if what == "a private address" and match.group(0) in callers:
                continue  # the client's own address (an allow-list refusal names it): nothing of the gateway's
            return [Problem.at(exchange, f"message reveals {what}: {match.group(0)[:60]!r}",
                               title=f"message reveals {what}",
                               subject=profile.message_pointer)]
    return []
