"""Target configs: credentials per role, the billing oracle and safety limits (SPEC.md format).

`${VAR}` (or `${VAR:-default}`) anywhere in a string expands from the environment, so keys never
need to sit in the file. An unset variable is a config problem: in a required role (`valid`, which
almost every test needs) or outside the optional sections it stops the run with one line naming the
variable and the field (`roles.valid.api_key`). In any other role, or an optional section, it makes
only that role or section unusable (its tests skip, naming the field and the variable; the session
says once, up front, what is unusable and why): CI secrets are not set on every branch.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.contract.safe_yaml import load_document, parse_text
from conformance.contract.schemas import validate_or_raise
from conformance.errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SECRET_FIELD = re.compile(r"(api_?key|token|secret|password|authorization|cookie)", re.I)

# Sections whose credentials may come from CI secrets that are not set everywhere: an unset
# variable in them skips what needs them instead of stopping the run.
OPTIONAL_SECTIONS = ("billing", "management", "realtime", "tasks", "streaming", "provider")

# Roles without which a run says next to nothing (every success path and most error paths use
# `valid`): an unset variable in one is the user's config problem, not 284 skips.
REQUIRED_ROLES = ("valid",)

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRY_AFTER_CAP_S = 10.0


class _Unset(Exception):
    def __init__(self, name: str, path: str) -> None:
        self.name = name
        self.path = path  # the config field that uses it: `roles.valid.api_key`

    def __str__(self) -> str:
        return f"{self.path}: environment variable {self.name} is not set"


def _expand(value: Any, env: Mapping[str, str], path: str = "") -> Any:
    if isinstance(value, str):
        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise _Unset(name, path or "$")

        return _VAR.sub(substitute, value)
    if isinstance(value, dict):
        return {k: _expand(v, env, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


@dataclass
class Limits:
    max_requests: int | None = None
    max_rps: float | None = None
    allow_billable: bool = False
    retry_after_cap_s: float = DEFAULT_RETRY_AFTER_CAP_S


@dataclass
class TargetConfig:
    raw: dict[str, Any]
    source: str = "(none)"
    unavailable_roles: dict[str, str] = field(default_factory=dict)
    unavailable_sections: dict[str, str] = field(default_factory=dict)
    # `roles.valid.api_key` → `GW_VALID` for every value that is exactly one `${VAR}`: a reproduce
    # line then says `$GW_VALID` where the key was masked.
    variables: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        # pytest prints a failing test's fixture values: this one must never show a credential.
        sections = sorted(k for k in self.raw if k != "roles")
        return f"TargetConfig(source={self.source!r}, roles={sorted(self.roles)!r}, sections={sections!r})"

    @property
    def target(self) -> str | None:
        return self.raw.get("target")

    @property
    def profile(self) -> str | None:
        return self.raw.get("profile")

    @property
    def claims(self) -> list[str] | None:
        """The scopes the run certifies as the config lists them (None: not listed, take the default)."""
        claims = self.raw.get("claims")
        return list(claims) if claims is not None else None

    @property
    def model(self) -> str | None:
        return self.raw.get("model")

    @property
    def request_timeout_s(self) -> float:
        return float(self.raw.get("request_timeout_s", DEFAULT_TIMEOUT_S))

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.raw.get("headers") or {})

    @property
    def limits(self) -> Limits:
        raw = self.raw.get("limits") or {}
        return Limits(
            max_requests=raw.get("max_requests"),
            max_rps=raw.get("max_rps"),
            allow_billable=bool(raw.get("allow_billable", False)),
            retry_after_cap_s=float(raw.get("retry_after_cap_s", DEFAULT_RETRY_AFTER_CAP_S)),
        )

    @property
    def roles(self) -> dict[str, dict[str, Any]]:
        return self.raw.get("roles") or {}

    def role(self, name: str) -> dict[str, Any] | None:
        return self.roles.get(name)

    def missing_role_reason(self, name: str) -> str:
        why = self.unavailable_roles.get(name)
        if why:
            return f"role '{name}' is unusable ({why})"
        return f"role '{name}' is missing from the target config"

    def section(self, name: str) -> dict[str, Any] | None:
        value = self.raw.get(name)
        return value if isinstance(value, dict) else None

    def missing_section_reason(self, name: str) -> str:
        why = self.unavailable_sections.get(name)
        if why:
            return f"section '{name}' is unusable ({why})"
        return f"section '{name}' is missing from the target config"

    def unusable_note(self) -> str | None:
        """One line for the session start: every role and section an unset variable made unusable."""
        parts = [f"role '{name}' ({why})" for name, why in sorted(self.unavailable_roles.items())]
        parts += [f"section '{name}' ({why})" for name, why in sorted(self.unavailable_sections.items())]
        if not parts:
            return None
        return f"unusable in {self.source}, their tests will skip: " + "; ".join(parts)

    def secrets(self) -> list[str]:
        """Every credential in the config, so the redactor can mask them anywhere."""
        found: list[str] = []

        def walk(value: Any, key: str = "") -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(v, str(k))
            elif isinstance(value, list):
                for v in value:
                    walk(v, key)
            elif isinstance(value, str) and SECRET_FIELD.search(key) and len(value) >= 4:
                found.append(value)

        walk(self.raw)
        return sorted(set(found), key=len, reverse=True)

    def public(self) -> dict[str, Any]:
        """The config with every credential replaced: safe for reports and logs."""
        def scrub(value: Any, key: str = "") -> Any:
            if isinstance(value, dict):
                return {k: scrub(v, str(k)) for k, v in value.items()}
            if isinstance(value, list):
                return [scrub(v, key) for v in value]
            if isinstance(value, str) and SECRET_FIELD.search(key):
                return "REDACTED"
            return value

        scrubbed: dict[str, Any] = scrub(copy.deepcopy(self.raw))
        return scrubbed


def _refuse_url_credentials(value: Any, source: str, path: str = "$") -> None:
    """Every `…url` field (target, management.base_url, billing URLs): no credential in the URL."""
    from conformance.contract.url_credentials import credential_problem

    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            if isinstance(item, str) and (str(key).endswith("url") or key == "target") and "://" in item:
                problem = credential_problem(item, f"target config {source}: {where}", any_query=key == "target")
                if problem:
                    raise ConfigError(problem)
            else:
                _refuse_url_credentials(item, source, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_url_credentials(item, source, f"{path}[{index}]")


def parse_config(data: Any, source: str, env: Mapping[str, str] | None = None) -> TargetConfig:
    env = os.environ if env is None else env
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"target config {source}: $: the document must be a mapping, not {type(data).__name__}")
    data = dict(data)
    original = copy.deepcopy(data)
    unavailable: dict[str, str] = {}
    unavailable_sections: dict[str, str] = {}
    for name in OPTIONAL_SECTIONS:
        if name in data:
            try:
                data[name] = _expand(data[name], env, name)
            except _Unset as unset:
                unavailable_sections[name] = str(unset)
                del data[name]
    roles = data.get("roles")
    if isinstance(roles, dict):
        kept = {}
        for name, role in roles.items():
            try:
                kept[name] = _expand(role, env, f"roles.{name}")
            except _Unset as unset:
                if name in REQUIRED_ROLES:
                    raise ConfigError(f"target config {source}: {unset} (export it, or remove the role: "
                                      f"the '{name}' role is needed by almost every test)") from None
                unavailable[str(name)] = str(unset)
        data["roles"] = kept
    try:
        rest = _expand({k: v for k, v in data.items() if k != "roles"}, env)
    except _Unset as unset:
        raise ConfigError(f"target config {source}: {unset}") from None
    if "roles" in data:
        rest["roles"] = data["roles"]
    validate_or_raise(rest, "target-config.schema.json", f"target config {source}")
    _refuse_url_credentials(rest, source)
    return TargetConfig(raw=rest, source=source, unavailable_roles=unavailable,
                        unavailable_sections=unavailable_sections, variables=_whole_variables(original))


_WHOLE_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")


def _whole_variables(value: Any, path: str = "") -> dict[str, str]:
    """Dotted path → variable name, for each string that is exactly one `${VAR}` before expansion."""
    found: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            found.update(_whole_variables(item, f"{path}.{key}" if path else str(key)))
    elif isinstance(value, str):
        match = _WHOLE_VAR.fullmatch(value.strip())
        if match:
            found[path] = match.group(1)
    return found


def load_config(ref: str | None, env: Mapping[str, str] | None = None) -> TargetConfig:
    """`ref` is a path, inline YAML/JSON (starts with `{`), or None (empty config)."""
    if ref is None or ref == "":
        return parse_config({}, "(none)", env)
    text = ref.strip()
    if text.startswith("{"):
        return parse_config(parse_text(text, "target config (inline)"), "(inline)", env)
    path = Path(ref).expanduser()
    if not path.is_file():
        raise ConfigError(f"target config {path} does not exist")
    return parse_config(load_document(path, "target config"), str(path), env)
