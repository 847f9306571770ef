"""SEC-1..2: errors never echo a credential, and never reveal whether a key exists."""

from __future__ import annotations

import re

import pytest

from conformance import checks
from conformance.contract.profiles import resolve_pointer
from conformance.scenarios.inference import build_scenarios


def credential_scenarios(profile) -> list[str]:
    return [s.name for s in build_scenarios(profile) if not s.name.startswith("no_credentials")]


def pytest_generate_tests(metafunc):
    if "credential_scenario" in metafunc.fixturenames:
        from conformance.suite.conftest import collection_profile, scoped

        profile = collection_profile(metafunc.config)
        metafunc.parametrize("credential_scenario", scoped(credential_scenarios(profile), profile))


@pytest.mark.requirement("SEC-1")
def test_credential_not_echoed(credential_scenario, scenario, no_problems):
    """No error body or header echoes the presented credential (a masked prefix of at most 8 characters is allowed)."""
    exchange = scenario(credential_scenario)
    problems = checks.credential_echo_problems(exchange)
    no_problems(problems, why=" (more than an 8-character masked prefix)")


def _shape(message: str, credential: str) -> str:
    """The message with any fragment of the presented key replaced, so only its shape is compared."""
    def fragment(token: str) -> bool:
        core = token.strip(".,:;'\"()[]*")
        return len(core) >= 4 and (credential.startswith(core[:4]) or credential.endswith(core[-4:]))

    return " ".join("<key>" if fragment(t) else t for t in re.split(r"\s+", message.strip()))


@pytest.mark.requirement("SEC-2")
def test_disabled_key_indistinguishable(scenario, profile, rule_suffix):
    """Errors for bad credentials do not reveal whether a key exists (same status, code and message shape for unknown and disabled keys)."""
    unknown = scenario("unknown_key")
    disabled = scenario("disabled_key")
    differences = []
    if unknown.status != disabled.status:
        differences.append(f"status {unknown.status} vs {disabled.status}")
    code_u, code_d = checks.code_of(unknown, profile)[1], checks.code_of(disabled, profile)[1]
    if code_u != code_d:
        differences.append(f"code {code_u!r} vs {code_d!r}")
    msg_u = resolve_pointer(checks.envelope(unknown), profile.message_pointer)[1]
    msg_d = resolve_pointer(checks.envelope(disabled), profile.message_pointer)[1]
    if isinstance(msg_u, str) and isinstance(msg_d, str):
        shape_u = _shape(msg_u, unknown.presented_credentials[0])
        shape_d = _shape(msg_d, disabled.presented_credentials[0])
        if shape_u != shape_d:
            differences.append(f"message {shape_u!r} vs {shape_d!r}")
    elif msg_u != msg_d:
        differences.append(f"message {msg_u!r} vs {msg_d!r}")
    assert not differences, "an unknown and a disabled key are told apart: " + "; ".join(differences) + rule_suffix
