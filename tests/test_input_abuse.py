"""Abuse of our own inputs — huge, explosive, cyclic or remote-referencing configs and profiles —
ends in one readable line, fast. Complements test_config.py / test_user_errors.py (not repeated here).
"""

from __future__ import annotations

import os

import pytest
import yaml

from conformance.contract.profiles import load_profile
from conformance.contract.resources import PROFILES_DIR
from conformance.contract.target_config import load_config
from conformance.errors import ConfigError
from tests.test_user_errors import assert_one_line, run_pytest

HUNDRED_MB = 100 * 1024**2


def _profile(tmp_path, mutate) -> str:
    raw = yaml.safe_load((PROFILES_DIR / "pyai.yaml").read_text())
    mutate(raw)
    path = tmp_path / "vendor.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def _hundred_mb_string(path) -> None:
    """`model: "xxxx…"` — 100 MB, written sparse-free but quickly (one seek, one write)."""
    with open(path, "wb") as f:
        f.write(b'model: "')
        f.seek(HUNDRED_MB)
        f.write(b'"\n')


def test_hundred_megabyte_config_is_refused_unread(tmp_path):
    path = tmp_path / "big.yaml"
    _hundred_mb_string(path)
    with pytest.raises(ConfigError, match="larger than") as info:
        load_config(str(path))
    assert "\n" not in str(info.value)


def test_hundred_megabyte_config_on_the_command_line(tmp_path):
    path = tmp_path / "big.yaml"
    _hundred_mb_string(path)
    code, output, _ = run_pytest("--target", "http://127.0.0.1:9", "--target-config", str(path))
    assert code != 0
    assert_one_line(output, "larger than")


def test_cyclic_alias_in_config(tmp_path):
    path = tmp_path / "cycle.yaml"
    path.write_text("headers: &h {x: *h}\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert "\n" not in str(info.value)


def test_profile_yaml_bomb_on_the_command_line(tmp_path):
    """A wide bomb (one anchor, hundreds of aliases); test_config.py has the deep one for configs."""
    path = tmp_path / "bomb.yaml"
    path.write_text("a: &a [" + ", ".join(["xxxxxxxx"] * 64) + "]\nb: [" + ", ".join(["*a"] * 500) + "]\n")
    code, output, _ = run_pytest("--profile", str(path))
    assert code != 0
    assert_one_line(output, "YAML bomb")


def test_profile_with_cyclic_alias(tmp_path):
    path = tmp_path / "cycle.yaml"
    path.write_text((PROFILES_DIR / "pyai.yaml").read_text() + "\nx_cycle: &c [*c]\n")
    with pytest.raises(ConfigError) as info:
        load_profile(str(path))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("schema", [
    "https://example.invalid/envelope.json",  # a remote $ref is never fetched
    "envelope-openai.schema.json#/$defs/nope",
    "../../etc/passwd",
])
def test_profile_schema_reference_outside_the_bundle(tmp_path, schema):
    path = _profile(tmp_path, lambda raw: raw["envelope"].__setitem__("schema", schema))
    with pytest.raises(ConfigError, match=r"unknown schema|profile") as info:
        load_profile(path)
    assert "\n" not in str(info.value)


def test_profile_with_a_ref_key_is_a_schema_error(tmp_path):
    path = _profile(tmp_path, lambda raw: raw["envelope"].__setitem__("$ref", "#/envelope"))
    with pytest.raises(ConfigError, match=r"\$ref|envelope") as info:
        load_profile(path)
    assert "\n" not in str(info.value)


def test_target_config_file_that_is_a_directory_or_fifo(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # reading would block forever
    with pytest.raises(ConfigError) as info:
        load_config(str(fifo))
    assert "\n" not in str(info.value)
