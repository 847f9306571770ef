"""Self-tests of the reference gateway (`conformance/reference/`).

One real gateway process per shipped profile (module-scoped), driven with plain httpx, proves the
contract end to end: READY + config, every role's code and status, request ids, rate limit,
charges visible to the oracle and rejections left uncharged. Defects are checked in-process with
Starlette's TestClient, which is fast enough to cover every switch.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from conformance.contract.profiles import Profile, load_profile, resolve_pointer
from conformance.contract.schemas import first_error
from conformance.errors import ConformanceError
from conformance.reference.__main__ import main as reference_main
from conformance.reference.app import create_app
from conformance.reference.defects import Defects, load_catalogue
from conformance.reference.gateway_process import ReferenceProcess
from conformance.reference.ledger import Ledger
from conformance.reference.provision import MODELS, ROLES, provision
from conformance.reference.variants import Variants
from conformance.servers.fake_model import cost_of
from tests.conftest import CHILD_TIMEOUT_S

PROFILES = ("pyai", "mindproxy")
CHAT = {"model": "ref-small", "messages": [{"role": "user", "content": "say hello to me"}]}


class Gateway:
    """A started reference process plus the helpers the tests share."""

    def __init__(self, process: ReferenceProcess, profile: Profile) -> None:
        self.process = process
        self.profile = profile
        self.config = process.config
        self.client = httpx.Client(base_url=process.url, timeout=10)

    def key(self, role: str) -> str:
        return self.config["roles"][role]["api_key"]

    def auth(self, role: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key(role)}", **extra}

    def chat(self, role: str | None, body: Any = CHAT, **headers: str) -> httpx.Response:
        all_headers = {**(self.auth(role) if role else {}), **headers}
        return self.client.post("/v1/chat/completions", json=body, headers=all_headers)

    def oracle(self, url_key: str, **fields: str) -> httpx.Response:
        billing = self.config["billing"]
        url = billing[url_key]["url"].format(**fields)
        return self.client.get(url, headers={"Authorization": f"Bearer {billing['api_key']}"})

    def cost(self, response: httpx.Response) -> float:
        answer = self.oracle("request_cost", request_id=response.headers[self.profile.request_id_header])
        if answer.status_code == 404:
            return 0.0
        assert answer.status_code == 200, answer.text
        return answer.json()["cost"]

    def spend(self, role: str) -> float:
        return self.oracle("key_spend", key_id=self.config["roles"][role]["key_id"]).json()["spend"]

    def code(self, response: httpx.Response) -> Any:
        return resolve_pointer(response.json(), self.profile.code_pointer)[1]

    def assert_envelope(self, response: httpx.Response) -> None:
        assert response.headers["content-type"].startswith("application/json"), response.headers
        error = first_error(response.json(), self.profile.envelope_schema)
        assert error is None, f"{response.status_code} {response.text}: {error}"
        found, message = resolve_pointer(response.json(), self.profile.message_pointer)
        assert found and isinstance(message, str) and message


@pytest.fixture(scope="module", params=PROFILES)
def gw(request: pytest.FixtureRequest) -> Iterator[Gateway]:
    with ReferenceProcess(request.param) as process:
        gateway = Gateway(process, load_profile(request.param))
        yield gateway
        gateway.client.close()


def _role_request(gw: Gateway, role: str) -> httpx.Response:
    if role == "restricted":
        return gw.chat(role, {**CHAT, "model": gw.config["roles"]["restricted"]["forbidden_model"]})
    if role == "publishable":
        return gw.chat(role, Origin=gw.config["roles"]["publishable"]["disallowed_origin"])
    return gw.chat(role)


# -- process and config ------------------------------------------------------------------------


def test_ready_and_config_has_every_role(gw: Gateway) -> None:
    config = gw.config
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", gw.process.url or "")
    assert config["target"] == gw.process.url
    assert config["profile"] == gw.profile.id
    assert first_error(config, "target-config.schema.json") is None
    test_key = {"test_key"} if gw.profile.id == "pyai" else set()  # "(or use a pyai_test_ key)"
    assert set(config["roles"]) == set(ROLES) | {"upstream"} | test_key  # provider mode: UPS tests' own key
    assert config["provider"]["role"] == "upstream" and config["provider"]["records_url"].startswith("http://127.0.0.1:")
    for role, facts in config["roles"].items():
        assert facts["key_id"].startswith("key_"), role
        pattern = {"publishable": r"pk_\w+", "test_key": r"pyai_test_[0-9a-f]{32}"}.get(role, r"sk-ref-[0-9a-f]{32}")
        assert re.fullmatch(pattern, facts["api_key"]), role
    assert config["roles"]["rate_limited"]["limit"] == 3
    assert config["billing"]["request_cost"]["url"].startswith(gw.process.url + "/_oracle/")
    assert oct(gw.process.config_path.stat().st_mode & 0o777) == "0o600"


def test_valid_role_is_served_and_charged(gw: Gateway) -> None:
    before = gw.spend("valid")
    response = gw.chat("valid")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["role"] == "assistant"
    assert body["usage"] == {"prompt_tokens": 4, "completion_tokens": 16, "total_tokens": 20}
    assert gw.cost(response) == cost_of(20)
    assert gw.spend("valid") == pytest.approx(before + cost_of(20))
    account = gw.oracle("balance", key_id=gw.config["roles"]["valid"]["key_id"]).json()
    assert account["balance"] < 100


def test_other_routes_succeed(gw: Gateway) -> None:
    models = gw.client.get("/v1/models", headers=gw.auth("valid"))
    assert models.status_code == 200 and gw.cost(models) == 0
    assert {m["id"] for m in models.json()["data"]} == set(MODELS)  # ref-small, ref-large, ref-fail-midstream
    emb = gw.client.post("/v1/embeddings", json={"model": "ref-small", "input": ["a b", "c"]}, headers=gw.auth("valid"))
    assert emb.status_code == 200 and len(emb.json()["data"]) == 2 and gw.cost(emb) == cost_of(3)
    cmp = gw.client.post("/v1/completions", json={"model": "ref-small", "prompt": "x", "max_tokens": 2}, headers=gw.auth("valid"))
    assert cmp.status_code == 200 and cmp.json()["usage"]["total_tokens"] == 3


def test_every_catalogued_role_produces_its_code(gw: Gateway) -> None:
    roles = {c.role for c in gw.profile.inference_codes() if c.role and c.trigger != "burst"}
    assert roles  # both shipped profiles have several
    for code in gw.profile.inference_codes():
        if code.role not in roles:
            continue
        response = _role_request(gw, code.role)
        assert (response.status_code, gw.code(response)) == (code.status, code.code), (code.role, response.text)
        gw.assert_envelope(response)
        assert gw.cost(response) == 0
        if code.status == 429:
            assert int(response.headers["Retry-After"]) >= 1


def test_roles_without_their_own_code_fall_back(gw: Gateway) -> None:
    """pyai has no IP code (→ its scope code); mindproxy has no origin / daily-cap / plan code."""
    expected = {
        "pyai": {"ip_restricted": (403, "forbidden")},
        "mindproxy": {
            "publishable": (403, "model_not_allowed"),
            "daily_capped": (429, "rate_limited"),
            "over_plan_quota": (402, "billing_shortfall"),
        },
    }[gw.profile.id]
    for role, (status, code) in expected.items():
        response = _role_request(gw, role)
        assert (response.status_code, gw.code(response)) == (status, code), role
    ok = gw.chat("publishable", Origin=gw.config["roles"]["publishable"]["allowed_origin"])
    assert ok.status_code == 200


def test_credentials_all_fail_alike(gw: Gateway) -> None:
    unknown = "sk-ref-" + "0" * 32
    variants = {
        "missing": {},
        "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
        "empty": {"Authorization": "Bearer"},
        "malformed": {"Authorization": "Bearer a b"},
        "unknown": {"Authorization": f"Bearer {unknown}"},
        "disabled": gw.auth("disabled"),
        "admin key": {"Authorization": f"Bearer {gw.config['billing']['api_key']}"},
    }
    messages = set()
    for name, headers in variants.items():
        response = gw.client.post("/v1/chat/completions", json=CHAT, headers=headers)
        assert (response.status_code, gw.code(response)) == (401, gw.profile.unauthorized_code), name
        gw.assert_envelope(response)
        assert unknown not in response.text and gw.key("disabled") not in response.text
        assert gw.cost(response) == 0
        messages.add(response.text.replace(response.headers[gw.profile.request_id_header], ""))
    assert len(messages) == 1


def test_auth_is_checked_before_the_body(gw: Gateway) -> None:
    response = gw.client.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 401


def test_bad_params_are_400_naming_the_param(gw: Gateway) -> None:
    cases = {
        "model": {"messages": CHAT["messages"]},
        "messages": {"model": "ref-small", "messages": []},
        "temperature": {**CHAT, "temperature": 3},
        "max_tokens": {**CHAT, "max_tokens": 0},
        "stream": {**CHAT, "stream": "yes"},
        "n": {**CHAT, "n": True},
    }
    for param, body in cases.items():
        response = gw.chat("valid", body)
        assert response.status_code == 400, (param, response.text)
        gw.assert_envelope(response)
        if gw.profile.param_pointer:
            assert resolve_pointer(response.json(), gw.profile.param_pointer)[1] == param
        assert gw.cost(response) == 0
    invalid_json = gw.client.post("/v1/chat/completions", content=b"{", headers=gw.auth("valid"))
    assert invalid_json.status_code == 400 and "Traceback" not in invalid_json.text
    unknown_model = gw.chat("valid", {**CHAT, "model": "gpt-nope"})
    assert unknown_model.status_code == 404 and gw.code(unknown_model) == "model_not_found"
    assert gw.chat("valid", {**CHAT, "unknown_field": 1}).status_code == 200


def test_unknown_paths_and_methods(gw: Gateway) -> None:
    for path in ("/v1/v1/chat/completions", "/chat/completions", "/v1/does-not-exist", "/v1/chat/completions/"):
        response = gw.client.post(path, json=CHAT, headers=gw.auth("valid"))
        assert response.status_code == 404, path
        gw.assert_envelope(response)
        assert gw.code(response) == {"pyai": None, "mindproxy": "not_found"}[gw.profile.id]
    wrong = gw.client.get("/v1/chat/completions", headers=gw.auth("valid"))
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    gw.assert_envelope(wrong)


def test_request_ids_are_on_every_response_and_unique(gw: Gateway) -> None:
    responses = [
        gw.chat("valid"),
        gw.chat(None),
        gw.client.get("/nowhere"),
        gw.client.get("/v1/models", headers=gw.auth("valid")),
        gw.oracle("key_spend", key_id="key_missing"),
    ]
    ids = [r.headers.get(gw.profile.request_id_header) for r in responses]
    assert all(i and i.startswith("req_") for i in ids)
    assert len(set(ids)) == len(ids)


def test_rate_limit_429_on_the_fourth_request(gw: Gateway) -> None:
    before = gw.spend("rate_limited")
    responses = [gw.chat("rate_limited") for _ in range(4)]
    assert [r.status_code for r in responses[:3]] == [200, 200, 200]
    limited = responses[3]
    assert limited.status_code == 429 and gw.code(limited) == next(c.code for c in gw.profile.codes if c.trigger == "burst")
    assert 1 <= int(limited.headers["Retry-After"]) <= 2
    gw.assert_envelope(limited)
    assert gw.cost(limited) == 0
    assert gw.spend("rate_limited") == pytest.approx(before + 3 * cost_of(20))
    names = gw.profile.rate_limit_headers
    if names:
        for response in responses:
            limit, remaining, reset = (int(response.headers[names[k]]) for k in ("limit", "remaining", "reset"))
            assert limit == 3 and 0 <= remaining <= limit and reset >= 1
        assert int(limited.headers[names["remaining"]]) == 0
    else:
        assert not any(h.lower().startswith("x-ratelimit") for h in limited.headers)


def test_oracle_needs_the_admin_key(gw: Gateway) -> None:
    url = gw.config["billing"]["key_spend"]["url"].format(key_id=gw.config["roles"]["valid"]["key_id"])
    for headers in ({}, gw.auth("valid")):
        response = gw.client.get(url, headers=headers)
        assert response.status_code == 401
        gw.assert_envelope(response)


# -- process lifecycle ---------------------------------------------------------------------------


def test_stop_leaves_no_process() -> None:
    process = ReferenceProcess("pyai", defects=["html_404"]).start()
    pid = process.process.pid  # type: ignore[union-attr]
    own_dir = process.config_path.parent
    assert httpx.get(process.url + "/nowhere").headers["content-type"].startswith("text/html")
    process.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not own_dir.exists()


def test_gateway_exits_when_stdin_closes() -> None:
    process = ReferenceProcess("mindproxy").start()
    child = process.process
    assert child is not None and child.stdin is not None
    child.stdin.close()
    assert child.wait(timeout=CHILD_TIMEOUT_S) == 0
    process.stop()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--profile", "nope"], "unknown profile 'nope'"),
        (["--defect", "nope"], "unknown defect 'nope'"),
        (["--host", "0.0.0.0"], "loopback only"),
        (["--profile", "pyai", "--defect", "no_rate_limit_headers"], "applies only to profile(s) mindproxy"),
        (["--variant", "nope"], "unknown variant 'nope'"),
        (["--profile", "mindproxy", "--variant", "problem_without_status"], "applies only to profile(s) pyai"),
    ],
)
def test_cli_refuses_with_one_line(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert reference_main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and message in err


def test_cli_process_refuses_without_traceback() -> None:
    env = {**os.environ, "GWC_REFERENCE_DEFECTS": "html_404,not_a_defect"}
    result = subprocess.run(
        [sys.executable, "-m", "conformance.reference", "--profile", "pyai"],
        capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, env=env,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "not_a_defect" in result.stderr


def test_unparseable_http_gets_the_envelope(gw: Gateway) -> None:
    host, port = gw.process.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head
    assert first_error(json.loads(body), gw.profile.envelope_schema) is None
    assert gw.profile.request_id_header.lower().encode() in head.lower()


def test_start_failure_raises_conformance_error() -> None:
    with pytest.raises(ConformanceError, match="unknown defect"):
        ReferenceProcess("pyai", defects=["nope"]).start()


# -- defects (in-process) ------------------------------------------------------------------------


class InProcess:
    """The app behind TestClient: no subprocess, so each defect costs milliseconds."""

    def __init__(self, profile_id: str, *defects: str, variants: tuple[str, ...] = ()) -> None:
        self.profile = load_profile(profile_id)
        ledger = Ledger()
        chosen = Variants(variants, self.profile.id)
        self.config = provision(ledger, "http://testserver", self.profile.id, variants=chosen)
        self.client = TestClient(create_app(self.profile, Defects(defects, self.profile.id), ledger, variants=chosen))

    def post(self, role: str | None, body: Any = CHAT, path: str = "/v1/chat/completions", **headers: str) -> Any:
        if role:
            headers["Authorization"] = f"Bearer {self.config['roles'][role]['api_key']}"
        if isinstance(body, bytes):
            return self.client.post(path, content=body, headers=headers)
        return self.client.post(path, json=body, headers=headers)

    def code(self, response: Any) -> Any:
        return resolve_pointer(response.json(), self.profile.code_pointer)[1]


def test_catalogue_is_complete_and_loads() -> None:
    catalogue = load_catalogue()
    assert len(catalogue) >= 18  # the skeleton's 18, plus each issue's own
    assert catalogue["no_rate_limit_headers"].profiles == ("mindproxy",)
    assert {"HDR-2", "RTY-2"} <= set(catalogue["no_retry_after"].kills)
    with pytest.raises(KeyError):
        Defects().on("not_a_defect")


def test_defects_each_bend_one_behaviour() -> None:
    healthy = InProcess("pyai")
    sick = InProcess(
        "pyai",
        "no_retry_after",
        "echo_key_in_401",
        "stack_trace_in_message",
        "wrong_status_for_code",
        "empty_message",
        "doubled_v1_served",
        "disabled_key_distinct",
    )
    for gw in (healthy, sick):
        capped = gw.post("daily_capped")
        assert capped.status_code == 429 and ("retry-after" in capped.headers) is (gw is healthy)
    unknown = "sk-ref-" + "1" * 32
    assert unknown in sick.post(None, Authorization=f"Bearer {unknown}").text
    assert unknown not in healthy.post(None, Authorization=f"Bearer {unknown}").text
    assert 'File "/srv/gateway/app.py", line 42' in sick.post("valid", b"{").json()["error"]["message"]
    forbidden = sick.post("restricted", {**CHAT, "model": "ref-large"})
    assert (forbidden.status_code, sick.code(forbidden)) == (400, "forbidden")
    assert sick.post("no_credit").json()["error"]["message"] == ""
    assert sick.post("valid", path="/v1/v1/chat/completions").status_code == 200
    assert healthy.post("valid", path="/v1/v1/chat/completions").status_code == 404
    assert healthy.post("valid", {**CHAT, "temperature": 9}).json()["error"]["param"] == "temperature"
    assert sick.post("disabled").json()["error"]["message"] == "This API key has been disabled."
    assert sick.post("valid").status_code == 200  # the happy path is untouched


def test_auth_and_body_defects() -> None:
    gw = InProcess("mindproxy", "no_auth_is_403", "wrong_scheme_accepted_as_400", "bad_params_409", "body_before_auth")
    missing = gw.post(None)
    assert (missing.status_code, gw.code(missing)) == (403, "unauthorized")
    assert gw.post(None, Authorization="Basic dXNlcjpwYXNz").status_code == 400
    assert gw.post(None, b"{not json").status_code == 409
    assert gw.post("valid", {**CHAT, "n": 0}).status_code == 409
    assert InProcess("pyai", "bad_params_as_500").post("valid", b"{").status_code == 500
    fastapi = InProcess("pyai", variants=("fastapi_422",))
    assert fastapi.post("valid", {**CHAT, "n": 0}).status_code == 422
    assert fastapi.post("valid", b"{").status_code == 422  # pydantic: invalid JSON is a validation error too


def test_pyai_test_key_is_served_without_credit() -> None:
    healthy = InProcess("pyai")
    role = healthy.config["roles"]["test_key"]
    assert role["api_key"].startswith("pyai_test_")
    assert healthy.post("no_credit").status_code == 402
    assert healthy.post("test_key").status_code == 200
    refused = InProcess("pyai", "test_key_refused")
    assert (refused.post("test_key").status_code, refused.code(refused.post("test_key"))) == (402, "credit_exhausted")
    assert "test_key" not in InProcess("mindproxy").config["roles"]


def test_second_killer_defects() -> None:
    """The defects that give each MUST a second, different way to fail (issue 16), in process."""
    pyai = InProcess("pyai", "missing_auth_header_422", "unknown_key_accepted", "key_in_www_authenticate",
                     "retry_after_not_delta_seconds", "billing_codes_collapsed", "refusal_403_codes_collapsed",
                     "null_message_on_403", "plan_quota_as_429", "rejection_fee_unitemized")
    assert pyai.post(None).status_code == 422
    unknown = pyai.client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": "Bearer sk-" + "ab" * 24})
    assert unknown.status_code == 200
    disabled = pyai.post("disabled")
    assert pyai.config["roles"]["disabled"]["api_key"] in disabled.headers["www-authenticate"]
    assert pyai.post("daily_capped").headers["retry-after"].endswith(".0")
    assert {pyai.code(pyai.post(role)) for role in ("no_credit", "over_key_budget")} == {"insufficient_quota"}
    assert (pyai.post("over_plan_quota").status_code, pyai.code(pyai.post("over_plan_quota"))) == (429, "insufficient_quota")
    refused = pyai.post("publishable", Origin="https://evil.example")
    assert (refused.status_code, pyai.code(refused), refused.json()["error"]["message"]) == (403, "forbidden", None)
    key_id = pyai.config["roles"]["disabled"]["key_id"]
    admin = {"Authorization": f"Bearer {pyai.config['billing']['api_key']}"}
    spend = pyai.client.get(f"/_oracle/keys/{key_id}", headers=admin).json()["spend"]
    assert spend > 0  # the 401 above debited a fee
    assert pyai.client.get(f"/_oracle/requests/{disabled.headers['x-request-id']}", headers=admin).status_code == 404

    mind = InProcess("mindproxy", "refusal_403_codes_collapsed", "rate_limit_code_renamed", "charge_undecodable_body")
    assert mind.code(mind.post("ip_restricted")) == "model_not_allowed"
    codes = {mind.code(mind.post("rate_limited")) for _ in range(20)}
    assert "rate_limit_error" in codes and "rate_limited" not in codes
    undecodable = mind.post("valid", b'{"model": "\xff\xfe", "messages": []}', **{"content-type": "application/json"})
    assert undecodable.status_code == 400
    admin = {"Authorization": f"Bearer {mind.config['billing']['api_key']}"}
    rid = undecodable.headers["x-tt-request-id"]
    assert mind.client.get(f"/_oracle/requests/{rid}", headers=admin).status_code == 200


def test_header_defects() -> None:
    static = InProcess("mindproxy", "static_request_id", "remaining_exceeds_limit", "uncatalogued_code")
    ids = {static.post("valid").headers["x-tt-request-id"] for _ in range(3)}
    assert len(ids) == 1
    response = static.post("valid")
    assert int(response.headers["X-RateLimit-Remaining"]) == int(response.headers["X-RateLimit-Limit"]) + 5
    assert static.code(static.post("no_credit")) == "payment_required"

    missing = InProcess("mindproxy", "no_request_id", "no_rate_limit_headers")
    assert "x-tt-request-id" in missing.post("valid").headers
    assert "x-tt-request-id" not in missing.post(None).headers
    for _ in range(3):
        missing.post("rate_limited")
    limited = missing.post("rate_limited")
    assert limited.status_code == 429 and "retry-after" in limited.headers
    assert "X-RateLimit-Limit" not in limited.headers

    pyai = InProcess("pyai", "uncatalogued_code", "html_404")
    assert pyai.code(pyai.post("daily_capped")) == "too_many_requests"
    page = pyai.client.get("/v1/nowhere")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")


def test_unhandled_error_is_a_500_envelope(monkeypatch: pytest.MonkeyPatch) -> None:
    gw = InProcess("pyai")

    def boom(*args: Any) -> None:
        raise RuntimeError("/secret/path exploded")

    monkeypatch.setattr("conformance.servers.fake_model.chat_completion", boom)
    client = TestClient(gw.client.app, raise_server_exceptions=False)
    response = client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {gw.config['roles']['valid']['api_key']}"})
    assert response.status_code == 500 and response.json()["error"]["code"] == "server_error"
    assert "secret" not in response.text and response.headers["x-request-id"].startswith("req_")


def test_rate_window_resets() -> None:
    from conformance.reference.ratelimit import FixedWindowLimiter

    now = [100.0]
    limiter = FixedWindowLimiter(2.0, clock=lambda: now[0])
    assert [limiter.hit("k", 3).allowed for _ in range(4)] == [True, True, True, False]
    refused = limiter.hit("k", 3)
    now[0] += refused.retry_after_s
    assert limiter.hit("k", 3).allowed


# -- clean variants (in-process) -----------------------------------------------------------------


def test_variants_each_bend_one_behaviour_correctly() -> None:
    """A few variants at the wire: what they change is what the catalogue says, nothing else."""
    from conformance.reference.variants import Variants, applicable
    from conformance.reference.variants import load_catalogue as load_variants

    profile = load_profile("mindproxy")
    names = ["bearer_challenge", "reset_http_date", "retry_after_asctime", "protocol_statuses", "stream_without_done"]
    ledger = Ledger()
    variants = Variants(names, profile.id)
    config = provision(ledger, "http://testserver", profile.id, variants=variants)
    client = TestClient(create_app(profile, Defects((), profile.id), ledger, variants=variants))
    unauthorized = client.post("/v1/chat/completions", json=CHAT)
    assert unauthorized.headers["www-authenticate"] == 'Bearer realm="gateway"'
    key = config["roles"]["rate_limited"]["api_key"]
    answers = [client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"}) for _ in range(5)]
    limited = next(a for a in answers if a.status_code == 429)
    assert limited.headers["x-ratelimit-reset"].endswith(" GMT")
    assert not limited.headers["retry-after"].endswith("GMT") and limited.headers["retry-after"][:3].isalpha()
    big = client.get("/v1/models", headers={"Authorization": f"Bearer {config['roles']['valid']['api_key']}",
                                            "x-padding": "p" * 9000})
    assert big.status_code == 431 and big.json()["error"]["type"] is None
    valid = config["roles"]["valid"]["api_key"]
    stream = client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers={"Authorization": f"Bearer {valid}"})
    assert stream.status_code == 200 and "[DONE]" not in stream.text
    assert set(applicable("pyai")) <= set(load_variants()) and "high_rate_limit_unconfigured" not in applicable("pyai")
    with pytest.raises(KeyError):
        Variants().on("not_a_variant")
