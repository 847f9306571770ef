"""The newcomer notes of 2026-12-03 (issue #23's polish list): each fix that can be checked fast."""

from __future__ import annotations

import pytest

from conformance.errors import ConfigError


def test_every_schema_error_of_a_config_is_reported_one_line_each():
    from conformance.contract.target_config import parse_config

    with pytest.raises(ConfigError) as caught:
        parse_config({"limits": {"max_rps": -1}, "roles": {"valid": {"api_key": 12345}}}, "t.yaml", env={})
    lines = str(caught.value).splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("target config t.yaml: $.limits.max_rps") and "$.roles.valid.api_key" in lines[1]


def test_an_unset_variable_in_an_optional_role_is_named_with_its_field():
    from conformance.contract.target_config import parse_config

    config = parse_config({"roles": {"valid": {"api_key": "k-1234"}, "disabled": {"api_key": "${GW_DISABLED_NOT_SET}"},
                                     "no_credit": {"api_key": "sk-${GW_NO_CREDIT_NOT_SET}"}},
                           "billing": {"api_key": "${GW_ADMIN_NOT_SET}"}}, "t.yaml", env={})
    assert config.unavailable_roles == {
        "disabled": "roles.disabled.api_key: environment variable GW_DISABLED_NOT_SET is not set",
        "no_credit": "roles.no_credit.api_key: environment variable GW_NO_CREDIT_NOT_SET is not set"}
    assert "roles.disabled.api_key" in config.missing_role_reason("disabled")
    assert "billing.api_key: environment variable GW_ADMIN_NOT_SET" in config.missing_section_reason("billing")
    # said once, up front: one line naming every unusable role and section and why
    note = config.unusable_note()
    assert note is not None and "\n" not in note
    for needle in ("t.yaml", "role 'disabled' (roles.disabled.api_key: environment variable GW_DISABLED_NOT_SET",
                   "role 'no_credit'", "section 'billing' (billing.api_key"):
        assert needle in note, note
    assert parse_config({"roles": {"valid": {"api_key": "k-1234"}}}, "t.yaml", env={}).unusable_note() is None


def test_an_unset_variable_in_the_valid_role_is_a_config_error():
    from conformance.contract.target_config import parse_config

    with pytest.raises(ConfigError) as caught:
        parse_config({"roles": {"valid": {"api_key": "${GW_VALID_NOT_SET}"}}}, "t.yaml", env={})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("target config t.yaml: roles.valid.api_key: environment variable GW_VALID_NOT_SET "
                              "is not set"), message


def test_an_unset_variable_outside_roles_names_its_field():
    from conformance.contract.target_config import parse_config

    with pytest.raises(ConfigError, match=r"^target config t.yaml: headers.x-route: environment variable GW_ROUTE"):
        parse_config({"headers": {"x-route": "${GW_ROUTE}"}}, "t.yaml", env={})


def test_an_unset_valid_variable_stops_the_run_in_one_line_exit_4(tmp_path):
    import subprocess
    import sys

    from tests.conftest import CHILD_TIMEOUT_S, REPO

    config = tmp_path / "target.yaml"
    config.write_text('roles:\n  valid: {api_key: "${GW_VALID_NOT_SET}"}\n', encoding="utf-8")
    env = {k: v for k, v in __import__("os").environ.items() if k != "GW_VALID_NOT_SET"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--target", "http://127.0.0.1:9",
                           "--target-config", str(config)], cwd=REPO, capture_output=True, text=True, env=env,
                          timeout=CHILD_TIMEOUT_S)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 4 and len(lines) == 1, lines
    assert "roles.valid.api_key: environment variable GW_VALID_NOT_SET is not set" in lines[0], lines


def test_reference_subcommand_takes_variant_and_documents_its_options(capsys):
    from conformance.cli import _parser

    ns = _parser().parse_args(["reference", "--variant", "bearer_challenge", "--port", "0"])
    assert ns.variant == ["bearer_challenge"]
    with pytest.raises(SystemExit):
        _parser().parse_args(["reference", "--help"])
    out = capsys.readouterr().out
    for option in ("--profile", "--host", "--port", "--variant"):
        line = next(row for row in out.splitlines() if row.strip().startswith(option))
        assert len(line.split()) > 2, line  # a help text, not just the option


def test_init_and_readme_document_retry_after_cap_s():
    from conformance.contract.templates import target_config_template
    from tests.conftest import REPO

    assert "retry_after_cap_s" in target_config_template("pyai")
    assert "retry_after_cap_s" in (REPO / "README.md").read_text(encoding="utf-8")


def test_progress_headings_give_realtime_and_streaming_their_own():
    from conformance.runner.progress import FILE_GROUPS, GROUP_TITLES

    assert FILE_GROUPS == {"test_realtime.py": "realtime", "test_streaming.py": "streaming"}
    assert all(group in GROUP_TITLES for group in FILE_GROUPS.values())


def test_provider_config_for_a_person_keeps_the_key_in_the_environment(tmp_path, monkeypatch):
    import subprocess
    import sys

    import yaml

    config = tmp_path / "provider.yaml"
    process = subprocess.Popen([sys.executable, "-m", "conformance.provider", "--port", "0", "--write-config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**__import__("os").environ, "GWC_PROVIDER_KEY": "sk-provider-0123456789abcdef"})
    try:
        assert process.stdout.readline().startswith("READY ")
        hint = process.stderr.readline()
        assert "gateway-conformance run --target" in hint and "GWC_PROVIDER_KEY" in hint
        section = yaml.safe_load(config.read_text())["provider"]
        assert section["api_key"] == "${GWC_PROVIDER_KEY}"
    finally:
        process.terminate()
        from tests.conftest import CHILD_TIMEOUT_S

        process.wait(timeout=CHILD_TIMEOUT_S)


def test_the_summary_names_each_should_that_did_not_pass(tmp_path):
    from tests.conftest import run_suite

    run = run_suite(tmp_path, "-p", "no:randomly", "-k", "test_request_id_present")
    assert run.report is not None, run.output[-2000:]
    # The contract's SHOULDs (practice ones are named in the grade line, "beyond the contract").
    shoulds = [r["id"] for r in run.report["requirements"] if r["level"] == "SHOULD" and r["status"] != "passed"
               and r["basis"]["kind"] != "practice"]
    assert shoulds
    line = next(row for row in run.output.splitlines() if row.startswith("skipped SHOULD: "))
    assert line == "skipped SHOULD: " + ", ".join(shoulds)
