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
    from tests.conftest import run_pytest

    config = tmp_path / "target.yaml"
    config.write_text('roles:\n  valid: {api_key: "${GW_VALID_NOT_SET}"}\n', encoding="utf-8")
    env = {k: v for k, v in __import__("os").environ.items() if k != "GW_VALID_NOT_SET"}
    code, output = run_pytest(["-q", "-p", "no:cacheprovider", "--target", "http://127.0.0.1:9",
                               "--target-config", str(config)], env=env, kind="user-error runs")
    lines = [line for line in output.splitlines() if line.strip()]
    assert code == 4 and len(lines) == 1, lines
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


def test_every_option_of_every_subcommand_has_help():
    import argparse

    from conformance.cli import _parser

    parser = _parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    bare = [f"{name} {'/'.join(action.option_strings)}" for name, sub in subcommands.items() for action in sub._actions
            if action.option_strings and not action.help and not isinstance(action, argparse._HelpAction)]
    assert not bare, f"options without a help text: {bare}"


def test_init_and_readme_document_retry_after_cap_s():
    from conformance.contract.templates import target_config_template
    from tests.conftest import REPO

    assert "retry_after_cap_s" in target_config_template("pyai")
    assert "retry_after_cap_s" in (REPO / "README.md").read_text(encoding="utf-8")


class _Reporter:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._tw = type("TW", (), {"width_of_current_line": 0})()

    def write_line(self, line: str, **_: object) -> None:
        self.lines.append(line)


def _headings(nodeids_and_requirements: list[tuple[str, str]], *, xdist_controller: bool = False) -> list[str]:
    """The progress headings a serial run (or an xdist controller) prints for tests run in this order."""
    import pytest

    from conformance.runner.progress import ConformanceReporting

    reporter = _Reporter()
    config = type("Config", (), {"pluginmanager": type("PM", (), {"get_plugin": lambda self, name: reporter})(),
                                 "get_verbosity": lambda self: 0})()
    plugin = ConformanceReporting(config, controller=True)
    items = [type("Item", (), {"nodeid": nodeid, "get_closest_marker": lambda self, name, rid=rid: pytest.mark.requirement(rid).mark})()
             for nodeid, rid in nodeids_and_requirements]
    if xdist_controller:
        for _, rid in nodeids_and_requirements:
            plugin.pytest_runtest_logreport(type("Report", (), {"user_properties": [("requirement", rid)]})())
    else:
        plugin.pytest_collection_modifyitems(items)
        for nodeid, _ in nodeids_and_requirements:
            plugin.pytest_runtest_logstart(nodeid, None)
    return [line.split(": ", 1)[1] for line in reporter.lines]


# The suite's files in run order, each with the requirements its tests check, in order.
_RUN = [("test_mapping.py::a", "MAP-1"), ("test_mapping.py::b", "MAP-3"), ("test_realtime.py::a", "MAP-3"),
        ("test_retry.py::a", "RTY-1"), ("test_retry.py::b", "HDR-4"), ("test_retry.py::c", "RTY-2"),
        ("test_security.py::a", "SEC-1"), ("test_streaming.py::a", "ENV-6"), ("test_upstream.py::a", "UPS-1")]


def test_progress_headings_follow_the_requirement_family_not_the_file():
    assert _headings(_RUN) == [
        "MAP status and code mapping …", "RTY retry rules …", "HDR headers …", "RTY retry rules (continued) …",
        "SEC credential hygiene …", "ENV error envelope …", "UPS when the provider fails …"]
    # an xdist controller sees results interleaved: one heading per family
    assert _headings([*_RUN, ("test_mapping.py::c", "MAP-2")], xdist_controller=True) == [
        "MAP status and code mapping …", "RTY retry rules …", "HDR headers …", "SEC credential hygiene …",
        "ENV error envelope …", "UPS when the provider fails …"]


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


def test_pyargs_outside_the_repository_leaves_no_cache_and_no_rewrite_warning(tmp_path):
    """`pytest --pyargs conformance.suite` from a directory of the user's: no `.pytest_cache/` left
    there, and no `PytestAssertRewriteWarning` about our package (a plugin here imports `conformance`
    before marking it for rewriting, as a process that imported us and then calls pytest does)."""
    import os
    import subprocess
    import sys

    from tests.conftest import CHILD_TIMEOUT_S

    (tmp_path / "gwc_imports_us_first.py").write_text(
        "import conformance  # noqa: F401\nimport pytest\n\npytest.register_assert_rewrite('conformance')\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "gwc_imports_us_first", "--pyargs", "conformance.suite",
                           "-k", "test_request_id_present"], cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=CHILD_TIMEOUT_S)
    output = done.stdout + done.stderr
    assert "passed" in output.splitlines()[-1], output[-2000:]
    assert "PytestAssertRewriteWarning" not in output and "warning" not in output.splitlines()[-1], output[-2000:]
    assert not (tmp_path / ".pytest_cache").exists()
    # someone else's run in the same environment keeps its cache (the plugin stays inert there)
    other = tmp_path / "other"
    other.mkdir()
    (other / "test_theirs.py").write_text("def test_theirs():\n    assert True\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "test_theirs.py"], cwd=other,
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert done.returncode == 0 and (other / ".pytest_cache").is_dir(), done.stdout + done.stderr


def test_only_our_own_rewrite_warnings_are_dropped():
    from _pytest.terminal import WarningReport

    from conformance.runner.tidy import drop_own_rewrite_warnings

    def report(message: str) -> WarningReport:
        return WarningReport(message=f"x.py:1: PytestAssertRewriteWarning: {message}\n  hook.mark_rewrite(name)",
                             nodeid="", fslocation=("x.py", 1))

    theirs = [report("Module already imported so cannot be rewritten; conformance_extra"),
              report("Module already imported so cannot be rewritten; anyio"), report("something else; conformance")]
    stats = {"warnings": [report("Module already imported so cannot be rewritten; conformance"),
                          report("Module already imported so cannot be rewritten; conformance.plugin"), *theirs]}
    reporter = type("Reporter", (), {"stats": stats})()
    config = type("Config", (), {"pluginmanager": type("PM", (), {"get_plugin": lambda self, name: reporter})()})()
    drop_own_rewrite_warnings(config)
    assert stats["warnings"] == theirs
    stats["warnings"] = [report("Module already imported so cannot be rewritten; conformance")]
    drop_own_rewrite_warnings(config)
    assert "warnings" not in stats


def test_the_summary_names_a_failed_should_with_its_reason(tmp_path):
    from tests.conftest import run_suite

    run = run_suite(tmp_path, "-p", "no:randomly", "-k", "test_retry_after_honoured", defects=("retry_after_too_short",))
    assert run.report is not None and run.status("HDR-4") == "failed", run.output[-2000:]
    lines = run.output.splitlines()
    assert "failed SHOULD: HDR-4" in lines, run.output[-2000:]
    assert lines[lines.index("failed SHOULD: HDR-4") + 1].startswith("  HDR-4: "), run.output[-2000:]


def test_the_summary_explains_what_pytest_deselected_by_design(tmp_path):
    import re

    from tests.conftest import run_suite

    run = run_suite(tmp_path, "-p", "no:randomly", "-k", "test_request_id_present")
    lines = run.output.splitlines()
    line = next((row for row in lines if "deselected by design" in row), None)
    assert line is not None, run.output[-2000:]
    by_design = int(re.match(r"(\d+) deselected by design \(requirements or cases pyai does not have\): never counted", line)[1])
    total = int(re.search(r"(\d+) deselected", lines[-1])[1])
    assert 0 < by_design < total  # pytest's count also holds what -k left out


def test_the_fixed_reply_names_no_particular_server():
    """The provider answers with the reference's fixed reply: it must not claim to be the reference."""
    from conformance.servers.fake_model import chat_completion

    text = chat_completion({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16, "n": 1,
                            "prompt_tokens": 1})
    content = text["choices"][0]["message"]["content"]
    assert content and "reference" not in content.lower(), content
