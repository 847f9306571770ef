"""Pure checks for the management plane (PRB-1..3): RFC 9457 problem documents.

Like `checks`, each function takes one exchange (and the profile) and returns one-line problems
naming the exchange. The profile's `management` section names the content type, the schema and
the extra members every problem must carry (pyai: a string `request_id`; a profile whose contract
says so may also tie a member to a header with `equals_header`).
"""

from __future__ import annotations

from typing import Any

from conformance.checks.envelope import envelope, is_error
from conformance.checks.problem import Problem
from conformance.checks.registry import check
from conformance.contract.profiles import Profile
from conformance.contract.schemas import describe, first_error
from conformance.transport.client import Exchange

PROBLEM_JSON = "application/problem+json"
_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict, "array": list,
}


def _management(profile: Profile) -> dict[str, Any]:
    return profile.management or {}


def content_type(profile: Profile) -> str:
    return str(_management(profile).get("content_type", PROBLEM_JSON)).lower()


def is_problem(exchange: Exchange, profile: Profile) -> bool:
    """Whether PRB-2 can read this answer as a problem document (else it is PRB-1's failure)."""
    return exchange.content_type == content_type(profile) and isinstance(envelope(exchange), dict)


@check("PRB-1")
def problem_document_problems(exchange: Exchange, profile: Profile) -> list[Problem]:
    """PRB-1: the problem content type, a body valid against the schema, and the extra members."""
    wanted = content_type(profile)
    problems: list[Problem] = []
    if exchange.content_type != wanted:
        problems.append(Problem.at(exchange, f"Content-Type is {exchange.content_type or '(none)'!r}, not {wanted}",
                                   title=f"not {wanted}", subject="Content-Type"))
    body = envelope(exchange)
    if not isinstance(body, dict):
        problems.append(Problem.at(exchange, f"body is not a JSON object ({exchange.text[:80]!r})",
                                   title="problem body is not a JSON object"))
        return problems
    schema = _management(profile).get("schema")
    if schema:
        error = first_error(body, schema)
        if error is not None:
            problems.append(Problem.at(exchange, f"body does not match {schema}: {describe(error)}",
                                       title="problem body does not match the schema", subject=str(schema)))
    for name, rule in (_management(profile).get("extra_members") or {}).items():
        problems += _member_problems(exchange, body, name, rule or {})
    return problems


def _member_problems(exchange: Exchange, body: dict[str, Any], name: str, rule: dict[str, Any]) -> list[Problem]:
    if name not in body:
        return [Problem.at(exchange, f"the problem has no {name!r} member",
                           title="problem member missing", subject=f"/{name}")]
    value = body[name]
    wanted = _TYPES.get(str(rule.get("type", "")))
    if wanted is not None and (not isinstance(value, wanted) or (isinstance(value, bool) and wanted is not bool)):
        return [Problem.at(exchange, f"member {name!r} is {value!r}, not a {rule['type']}",
                           title="problem member of the wrong type",
                           subject=f"/{name}")]
    header = rule.get("equals_header")
    if header:
        sent = exchange.header(header)
        if sent is not None and sent != value:  # a missing header is HDR-1's failure
            return [Problem.at(exchange, f"member {name!r} is {value!r} but the {header} header is {sent!r}",
                               title="problem member differs from its header", subject=f"/{name}")]
    return []


@check("PRB-2")
def problem_status_problems(exchange: Exchange) -> list[Problem]:
    """PRB-2: the problem's `status` member, when present, equals the HTTP status.

    RFC 9457 §3.1 makes every member optional; §3.1.2: "status" is advisory and, if present, must
    be the status code the origin server generated. An absent status contradicts nothing."""
    body = envelope(exchange)
    if not isinstance(body, dict) or "status" not in body:
        return []
    status = body["status"]
    if not isinstance(status, int) or isinstance(status, bool):
        return [Problem.at(exchange, f"the problem's status member is {status!r}, not an integer",
                           title="problem status not an integer", subject="/status")]
    if status != exchange.status:
        return [Problem.at(exchange, f"the problem says status {status}, the HTTP status is {exchange.status}",
                           title="problem status differs from the HTTP status", subject="/status")]
    return []


def plane_shape_problems(exchange: Exchange, profile: Profile, *, management: bool) -> list[Problem]:
    """PRB-3: management answers never carry the inference envelope; inference never problem+json."""
    if not is_error(exchange):
        return []
    if not management:
        if exchange.content_type == content_type(profile):
            return [Problem.at(exchange, f"an inference route answered {exchange.content_type}",
                               title="inference route answered problem+json", subject="Content-Type", requirement="PRB-3")]
        return []
    body = envelope(exchange)
    if isinstance(body, dict) and first_error(body, profile.envelope_schema) is None:
        return [Problem.at(exchange, f"a management route answered the inference envelope ({profile.envelope_schema})",
                           title="management route answered the inference envelope", requirement="PRB-3")]
    return []
