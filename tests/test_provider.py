"""The fault-injecting provider on its own: bad input gets a clear 4xx (never a crash), every fault
parses, the request log redacts credentials, and it binds loopback only."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from conformance.provider.__main__ import main as provider_main
from conformance.reference.__main__ import main as reference_main
from conformance.servers import faults
from conformance.servers.provider_link import ProviderProcess
from tests.conftest import CHILD_TIMEOUT_S

CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def provider():
    with ProviderProcess() as process:
        yield process


def _post(provider: ProviderProcess, body: object = None, *, content: bytes | None = None, key: str | None = None,
          headers: dict[str, str] | None = None) -> httpx.Response:
    sent = {"authorization": f"Bearer {key or provider.api_key}", "content-type": "application/json", **(headers or {})}
    if content is None:
        content = json.dumps(body).encode()
    return httpx.post(provider.url + CHAT, content=content, headers=sent, timeout=10)


def _chat(model: str, marker: str = "", **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": f"hello {marker}".strip()}], **extra}


def _error(response: httpx.Response) -> dict[str, object]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.mark.parametrize("name", [*faults.CATALOGUE, "slow-2", "cut-1"])
def test_every_catalogued_fault_parses(name: str) -> None:
    fault = faults.parse(faults.FAULT_PREFIX + name)
    assert fault.name == name and fault.kind != "ok"


def test_other_models_answer_normally() -> None:
    assert faults.parse("gpt-4o-mini").kind == "ok" and faults.parse(faults.OK_MODEL).kind == "ok"
    assert faults.model_for("503", {"503": "my-503"}) == "my-503" and faults.model_for("ok") == faults.OK_MODEL


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (_chat("gwc-fault/does-not-exist"), 400, "unknown_fault"),
        (_chat("gwc-fault/\u0000" + "x" * 500), 400, "unknown_fault"),
        (b"{not json", 400, "invalid_json"),
        ([1, 2, 3], 400, "invalid_json"),
        ({"messages": [{"role": "user", "content": "hi"}]}, 400, "missing_model"),
        ({"model": 7, "messages": []}, 400, "missing_model"),
        ({"model": "gwc-ok"}, 400, "invalid_parameter"),
        (_chat("gwc-ok", temperature="hot"), 400, "invalid_parameter"),
    ],
)
def test_bad_input_is_a_clear_4xx(provider: ProviderProcess, payload: object, status: int, code: str) -> None:
    response = _post(provider, content=payload) if isinstance(payload, bytes) else _post(provider, payload)
    assert response.status_code == status
    error = _error(response)
    assert error["code"] == code
    if code == "unknown_fault":
        assert "known faults" in str(error["message"]) and len(str(error["message"])) < 1200
    assert provider.running


def test_unknown_fault_names_the_catalogue(provider: ProviderProcess) -> None:
    message = str(_error(_post(provider, _chat("gwc-fault/nope")))["message"])
    assert "'nope'" in message and all(name in message for name in ("503", "429-date", "reset", "malformed-sse"))


def test_wrong_paths_methods_and_oversized_requests(provider: ProviderProcess) -> None:
    assert _error(httpx.get(provider.url + "/v2/nothing", timeout=10))["code"] == "unknown_path"
    assert httpx.get(provider.url + CHAT, timeout=10).status_code == 405
    response = httpx.post(provider.url + CHAT, content=b"{" + b" " * 4_100_000 + b"}",
                          headers={"authorization": f"Bearer {provider.api_key}"}, timeout=30)
    assert response.status_code == 413 and _error(response)["code"] == "request_too_large"
    since = httpx.get(provider.url + "/_provider/requests", params={"since": "-1"}, timeout=10)
    assert since.status_code == 400 and _error(since)["code"] == "invalid_since"
    assert provider.running


def test_wrong_provider_key_is_401_quoting_nothing_else(provider: ProviderProcess) -> None:
    response = _post(provider, _chat("gwc-ok"), key="sk-not-the-provider-key")
    assert response.status_code == 401 and _error(response)["code"] == "invalid_api_key"


def test_success_has_usage_and_faults_play(provider: ProviderProcess) -> None:
    ok = _post(provider, _chat("gwc-ok", max_tokens=4))
    assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] == 4
    assert _post(provider, _chat("gwc-fault/503")).status_code == 503
    assert _post(provider, _chat("gwc-fault/502-empty")).content == b""
    limited = _post(provider, _chat("gwc-fault/429-long"))
    assert limited.status_code == 429 and limited.headers["retry-after"] == str(faults.RETRY_AFTER_LONG_S)
    assert "x-ratelimit-remaining-requests" not in _post(provider, _chat("gwc-fault/429-bare")).headers
    with pytest.raises(httpx.TransportError):
        _post(provider, _chat("gwc-fault/reset"))
    with pytest.raises(httpx.TransportError):
        _post(provider, _chat("gwc-fault/cut", stream=True))
    assert provider.running
    assert _post(provider, _chat("gwc-ok")).status_code == 200  # still serving after the resets


def test_request_log_finds_markers_and_redacts_credentials(provider: ProviderProcess) -> None:
    marker = "gwc-mark-" + os.urandom(8).hex()
    _post(provider, _chat("gwc-fault/500", marker), headers={"x-api-key": "sk-secret-header"})
    log = httpx.get(provider.url + "/_provider/requests", params={"marker": marker}, timeout=10).json()
    [record] = log["requests"]
    assert record["fault"] == "500" and record["outcome"] == 500 and record["auth"] == "expected"
    text = json.dumps(log)
    assert provider.api_key not in text and "sk-secret-header" not in text
    assert record["headers"]["authorization"] == "<redacted>"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "loopback only"),
        (["--host", "192.0.2.10"], "loopback only"),
        (["--host", "example.com"], "loopback only"),
        (["--port", "70000"], "not a TCP port"),
    ],
)
def test_cli_refuses_with_one_line(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert provider_main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and message in err


def test_reference_refuses_a_provider_off_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    assert reference_main(["--provider", "http://192.0.2.10:80"]) == 2
    assert "loopback" in capsys.readouterr().err


def test_provider_process_binds_loopback_and_answers_models() -> None:
    with ProviderProcess() as process:
        assert process.url.startswith("http://127.0.0.1:")
        assert process.config["provider"]["api_key"] == process.api_key
        models = httpx.get(process.url + "/v1/models", timeout=10).json()["data"]
        assert {m["id"] for m in models} >= {faults.OK_MODEL, "gwc-fault/503"}


def test_gateway_conformance_provider_subcommand_refuses_without_traceback() -> None:
    result = subprocess.run([sys.executable, "-m", "conformance", "provider", "--host", "0.0.0.0"],
                            capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "loopback only" in result.stderr
