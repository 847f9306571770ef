"""The pure checks behind ENV-6 (SSE) and PRB-1..3 (problem+json), on hand-made exchanges."""

from __future__ import annotations

import dataclasses
import json

import httpx
import pytest

from conformance.checks import problem_json as problems
from conformance.checks import sse
from conformance.contract.profiles import load_profile
from conformance.transport.client import Exchange

PYAI = load_profile("pyai")


def _exchange(status: int, body: bytes, content_type: str, **headers: str) -> Exchange:
    return Exchange("GET", "http://gw.example/api/keys/x", {}, None, status=status,
                    headers=httpx.Headers({"content-type": content_type, **headers}), body=body)


def test_sse_parse_joins_data_lines_and_skips_comments():
    events, stray = sse.parse(": keep-alive\ndata: {\"a\":\ndata: 1}\n\nevent: error\ndata: x\n\ndata: [DONE]\n\n")
    assert [e.data for e in events] == ['{"a":\n1}', "x", "[DONE]"]
    assert events[1].event == "error" and stray == []
    # A final event with no blank line after it is discarded, as the SSE spec and the openai SDK do.
    assert [e.data for e in sse.parse("data: x\n\ndata: [DONE]")[0]] == ["x"]


def test_success_stream_needs_done_last():
    """Only where the profile promises [DONE] (streaming.done_sentinel); never before the end."""
    promised = dataclasses.replace(PYAI, stream_done=True)
    good = _exchange(200, b'data: {"choices":[]}\n\ndata: [DONE]\n\n', "text/event-stream")
    assert sse.stream_problems(good, promised) == []
    assert sse.stream_problems(good, PYAI) == []
    cut = _exchange(200, b'data: {"choices":[]}\n\n', "text/event-stream")
    assert "does not end with data: [DONE]" in str(sse.stream_problems(cut, promised)[0])
    assert sse.stream_problems(cut, PYAI) == []  # pyai never promises [DONE]
    early = _exchange(200, b'data: [DONE]\n\ndata: {"choices":[]}\n\n', "text/event-stream")
    assert "before the end" in str(sse.stream_problems(early, PYAI)[0])


def test_midstream_stream_that_ended_normally_is_no_error_event():
    """A late failure point past the reply: the stream ends with a normal chunk (ENV-6 inconclusive)."""
    normal = _exchange(200, b'data: {"choices":[{"delta":{"content":"OK"}}]}\n\n'
                       b'data: {"choices":[{"delta":{},"finish_reason":"length"}]}\n\ndata: [DONE]\n\n',
                       "text/event-stream")
    assert sse.ended_normally(normal, PYAI)
    bare = _exchange(200, b'data: {"choices":[]}\n\ndata: error: upstream died\n\n', "text/event-stream")
    assert not sse.ended_normally(bare, PYAI)


def test_midstream_error_must_be_the_envelope():
    envelope = {"error": {"message": "upstream died", "type": "server_error", "code": "server_error", "param": None}}
    good = _exchange(200, b'data: {"choices":[]}\n\ndata: ' + json.dumps(envelope).encode() + b"\n\n",
                     "text/event-stream")
    assert sse.midstream_error_problems(good, PYAI) == []
    bare = _exchange(200, b'data: {"choices":[]}\n\ndata: error: upstream died\n\n', "text/event-stream")
    assert "is not JSON" in str(sse.midstream_error_problems(bare, PYAI)[0])


def test_problem_document_with_request_id_equal_to_header():
    """`equals_header` binds a member to a header only where a profile says so; pyai does not."""
    body = {"type": "about:blank", "title": "Not Found", "status": 404, "request_id": "req_1"}
    answer = _exchange(404, json.dumps(body).encode(), "application/problem+json", **{"x-request-id": "req_1"})
    assert problems.problem_document_problems(answer, PYAI) == []
    assert problems.problem_status_problems(answer) == []
    other = _exchange(404, json.dumps(body).encode(), "application/problem+json", **{"x-request-id": "req_2"})
    assert problems.problem_document_problems(other, PYAI) == []
    bound = dataclasses.replace(PYAI, management={**PYAI.management, "extra_members": {
        "request_id": {"type": "string", "equals_header": "x-request-id"}}})
    assert "request_id" in str(problems.problem_document_problems(other, bound)[0])
    missing = _exchange(404, json.dumps({"title": "x"}).encode(), "application/problem+json")
    assert "request_id" in str(problems.problem_document_problems(missing, PYAI)[0])


def test_problem_status_is_optional():
    """RFC 9457 §3.1: an absent status contradicts nothing; a present one must match."""
    body = {"type": "about:blank", "title": "Not Found", "request_id": "r"}
    assert problems.problem_status_problems(_exchange(404, json.dumps(body).encode(), "application/problem+json")) == []
    body["status"] = "404"
    assert problems.problem_status_problems(_exchange(404, json.dumps(body).encode(), "application/problem+json"))


def test_problem_status_and_plane_shapes():
    body = {"title": "Bad Request", "status": 400, "request_id": "r"}
    assert "says status 400" in str(problems.problem_status_problems(
        _exchange(404, json.dumps(body).encode(), "application/problem+json"))[0])
    envelope = {"error": {"message": "m", "type": "t", "code": None, "param": None}}
    in_envelope = _exchange(404, json.dumps(envelope).encode(), "application/json")
    assert problems.plane_shape_problems(in_envelope, PYAI, management=True)
    assert problems.plane_shape_problems(
        _exchange(404, b"{}", "application/problem+json"), PYAI, management=False)


def test_realtime_handshake_never_follows_a_redirect():
    """A 3xx answer to the upgrade is recorded as it is: our credential never travels further."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from conformance.transport.client import GatewayClient
    from conformance.transport.websocket import RealtimeClient

    class Redirect(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # websockets reads only HTTP/1.1 answers
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", "ws://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = GatewayClient(f"http://127.0.0.1:{server.server_port}", timeout_s=5)
    try:
        realtime = RealtimeClient(client, f"ws://127.0.0.1:{server.server_port}/v1/realtime?agent_id={{agent_id}}")
        handshake = realtime.handshake("a\r\nb", "sk-test-secret-123456", label="redirect")
        assert handshake.connection is None
        assert handshake.exchange.status == 302
        assert handshake.exchange.url.endswith("agent_id=a%0D%0Ab")
        assert client.exchanges == [handshake.exchange] and client.budget.sent == 1
    finally:
        server.shutdown()
        client.close()


def test_reference_refuses_bad_agent_ids_before_the_upgrade():
    """In-process: the denial is an HTTP answer with the envelope; a good id is upgraded and counted."""
    from starlette.testclient import TestClient, WebSocketDenialResponse

    from conformance.reference.app import Gateway, create_app
    from conformance.reference.defects import Defects
    from conformance.reference.ledger import Ledger
    from conformance.reference.provision import provision
    from conformance.reference.realtime import agent_id_problem

    assert agent_id_problem("agent-1") is None
    assert agent_id_problem("a\r\nb") and agent_id_problem("a\x00") and agent_id_problem("a" * 4097)
    ledger = Ledger()
    config = provision(ledger, "http://testserver", "pyai")
    app = create_app(Gateway(PYAI, Defects(), ledger))
    key = config["roles"]["valid"]["api_key"]
    with TestClient(app) as http:
        with pytest.raises(WebSocketDenialResponse) as denied:
            with http.websocket_connect("/v1/realtime?agent_id=a%0D%0Ab", headers={"authorization": f"Bearer {key}"}):
                pass
        assert denied.value.status_code == 400
        assert denied.value.json()["error"]["code"] == "invalid_agent_id"
        assert denied.value.headers["x-request-id"]
        with http.websocket_connect("/v1/realtime?agent_id=ok", headers={"authorization": f"Bearer {key}"}) as ws:
            assert ws.receive_json()["type"] == "session.created"
            assert app.state.gateway.limits.sessions.total == 1
