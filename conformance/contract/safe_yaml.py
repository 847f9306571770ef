"""Load YAML/JSON documents that come from users without letting them exhaust the runner.

`yaml.safe_load` refuses arbitrary objects but still expands aliases: a "billion laughs" file of a
few hundred bytes becomes gigabytes. We cap the file size and the number of alias expansions.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from conformance.contract.resources import DATA_DIR, PROFILES_DIR, SCHEMAS_DIR
from conformance.errors import ConfigError

MAX_DOCUMENT_BYTES = 1_000_000
MAX_ALIASES = 100
MAX_NODES = 100_000


class _LimitedLoader(yaml.SafeLoader):
    """SafeLoader that counts alias uses and refuses past a small limit."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:  # index: int per the stubs (or a key node)
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise ConfigError(f"more than {MAX_ALIASES} YAML aliases (a YAML bomb?)")
        return super().compose_node(parent, index)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> date:
        """YAML reads `2027-02-30` as a date and Python refuses it: one line naming the place."""
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            mark = node.start_mark
            raise ConfigError(f"line {mark.line + 1} column {mark.column + 1}: {node.value!r} is not a valid date ({exc})") from None


_LimitedLoader.add_constructor("tag:yaml.org,2002:timestamp", _LimitedLoader.construct_yaml_timestamp)


def load_document(path: Path, what: str, *, ours: bool = False) -> Any:
    """Parse a YAML or JSON file; every failure is a one-line `ConfigError` naming the file. `ours`:
    written by this package (a server we started wrote its target config there), so libyaml may
    parse it like the package's own data files; a user's file never is."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read: {exc.strerror or exc}") from None
    if size > MAX_DOCUMENT_BYTES:
        raise ConfigError(f"{what} {path}: {size} bytes is larger than the {MAX_DOCUMENT_BYTES}-byte limit")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {path}: cannot read as UTF-8: {exc}") from None
    return parse_text(text, f"{what} {path}", json_only=path.suffix == ".json", shipped=ours or _shipped(path))


def _shipped(path: Path) -> bool:
    """Whether `path` is one of the package's own data files (the registry, the catalogues, the
    shipped profiles and schemas): written by us and checked by the self-tests, so libyaml may
    parse it. Every run reads several, and the pure-Python loader below took ~0.25 CPU-s for them."""
    resolved = path.resolve()
    return any(folder.resolve() in resolved.parents for folder in (DATA_DIR, PROFILES_DIR, SCHEMAS_DIR))


def parse_text(text: str, where: str, *, json_only: bool = False, shipped: bool = False) -> Any:
    """Parse YAML (or JSON only); every failure is a one-line `ConfigError` naming `where`. A
    `shipped` document (ours, not a user's) is parsed by libyaml when PyYAML has it: same data."""
    if shipped and not json_only and getattr(yaml, "__with_libyaml__", False):
        try:
            return yaml.load(text, Loader=yaml.CSafeLoader)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{where}: invalid YAML: {exc}") from None
    if json_only:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    try:
        document = yaml.load(text, Loader=_LimitedLoader)
        _check_size(document)
        return document
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        position = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{where}: invalid YAML{position}: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: invalid YAML: {exc}") from None


def _check_size(document: Any) -> None:
    """Aliases share nodes, so a small file can still describe billions of them once walked
    (validation and ${VAR} expansion walk every one). Count, and stop counting at the cap."""
    stack = [document]
    seen = 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise ConfigError(f"more than {MAX_NODES} values once aliases are expanded (a YAML bomb?)")
        if isinstance(node, dict):
            stack.extend(node.values())
            stack.extend(node.keys())
        elif isinstance(node, list):
            stack.extend(node)
