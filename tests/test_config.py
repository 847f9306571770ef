"""Target configs and profiles: ${VAR} expansion, and one readable line for every bad input."""

from __future__ import annotations

import pytest

from conformance.contract.profiles import load_profile
from conformance.contract.target_config import load_config, parse_config
from conformance.errors import ConfigError


def test_env_expansion_and_defaults(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text('target: "${GW_URL:-http://127.0.0.1:1}"\nroles:\n  valid: {api_key: "${GW_KEY}"}\n')
    config = load_config(str(path), env={"GW_KEY": "sk-secret-1234"})
    assert config.target == "http://127.0.0.1:1"
    assert config.role("valid") == {"api_key": "sk-secret-1234"}
    assert "sk-secret-1234" in config.secrets()
    assert config.public()["roles"]["valid"]["api_key"] == "REDACTED"


def test_unset_variable_in_an_optional_role_only_drops_that_role():
    config = parse_config({"roles": {"valid": {"api_key": "k-1234"}, "disabled": {"api_key": "${NOPE_UNSET}"}}},
                          "x", env={})
    assert config.role("disabled") is None
    assert "NOPE_UNSET" in config.missing_role_reason("disabled")
    assert config.role("valid") == {"api_key": "k-1234"}


def test_unset_variable_in_billing_drops_the_section():
    config = parse_config({"billing": {"api_key": "${NOPE_ADMIN}"}}, "x", env={})
    assert config.section("billing") is None
    assert "NOPE_ADMIN" in config.missing_section_reason("billing")


def test_unset_variable_elsewhere_is_one_line():
    with pytest.raises(ConfigError, match="NOPE_TARGET is not set"):
        parse_config({"target": "${NOPE_TARGET}"}, "x", env={})


def test_wrong_type_names_the_field(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("request_timeout_s: soon\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert "$.request_timeout_s" in str(info.value) and "\n" not in str(info.value)


def test_unknown_top_level_field(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("rolse: {}\n")
    with pytest.raises(ConfigError, match="rolse"):
        load_config(str(path))


def test_yaml_syntax_error_names_line(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("roles:\n  valid: {api_key: [unclosed\n")
    with pytest.raises(ConfigError, match=r"invalid YAML at line \d+"):
        load_config(str(path))


def test_yaml_bomb_is_refused(tmp_path):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join(f"*{chr(96 + i)}" for _ in range(9)) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="YAML bomb"):
        load_config(str(path))


def test_huge_file_is_refused(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("model: " + "x" * 2_000_000 + "\n")
    with pytest.raises(ConfigError, match="larger than"):
        load_config(str(path))


def test_json_is_accepted(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('{"model": "m", "roles": {"valid": {"api_key": "k-12345"}}}')
    assert load_config(str(path)).model == "m"


def test_inline_config():
    assert load_config('{"model": "m"}').model == "m"


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("/nonexistent/target.yaml")


def test_unknown_profile_lists_shipped():
    with pytest.raises(ConfigError, match="pyai") as info:
        load_profile("nosuchprofile")
    assert "mindproxy" in str(info.value)


def test_bad_profile_names_the_field(tmp_path):
    import yaml

    from conformance.contract.resources import PROFILES_DIR

    raw = yaml.safe_load((PROFILES_DIR / "pyai.yaml").read_text())
    raw["codes"][1]["status"] = "forbidden"
    path = tmp_path / "vendor.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"\$\.codes\[1\]\.status"):
        load_profile(str(path))
