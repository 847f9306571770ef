"""Every JSON Schema the suite ships, resolved offline through one `referencing` registry.

Schemas refer to each other by `$id`; nothing is ever fetched from the network.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from conformance.contract.resources import SCHEMAS_DIR
from conformance.errors import ConfigError, ConfigErrors

ID_BASE = "https://gateway-conformance.dev/schemas/"


@lru_cache(maxsize=1)
def registry() -> Registry:
    resources = []
    for path in sorted(SCHEMAS_DIR.glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(contents, default_specification=DRAFT202012)
        resources.append((contents.get("$id", ID_BASE + path.name), resource))
        resources.append((path.name, resource))  # profiles may name a schema by file name
    return Registry().with_resources(resources)


def schema_uri(name: str) -> str:
    """`envelope-openai.schema.json` or a full `$id` → the `$id`."""
    return name if "://" in name else ID_BASE + name


@cache
def validator(name: str) -> Draft202012Validator:
    try:
        schema = registry().contents(schema_uri(name))
    except Exception:  # noqa: BLE001 -- referencing raises its own NoSuchResource
        raise ConfigError(f"unknown schema {name!r} (not in {SCHEMAS_DIR})") from None
    return Draft202012Validator(schema, registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def first_error(instance: Any, name: str) -> ValidationError | None:
    error: ValidationError | None = best_match(validator(name).iter_errors(instance))  # stubs: untyped return
    return error


def describe(error: ValidationError) -> str:
    """`$.roles.valid.api_key: 7 is not of type 'string'` — the JSON path and the reason, one line."""
    message = error.message
    if len(message) > 200:
        message = message[:200] + "…"
    return f"{error.json_path}: {message}"


def validate_or_raise(instance: Any, name: str, where: str) -> None:
    """Every schema error, one line each (a config with two mistakes names both, not one per run)."""
    errors = sorted(validator(name).iter_errors(instance), key=lambda e: (list(e.absolute_path), e.message))
    if not errors:
        return
    lines: list[str] = []
    for error in errors:
        line = f"{where}: {describe(best_match([error]) if error.context else error)}"
        if line not in lines:
            lines.append(line)
    raise ConfigErrors(lines) if len(lines) > 1 else ConfigError(lines[0])
