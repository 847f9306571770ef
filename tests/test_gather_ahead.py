"""Gathering ahead (`GatewayClient.gather_ahead`): evidence sent in the background while other tests
run must never land in a spend window, never raise the number of gathered requests in flight
above --gather-concurrency, and never be taken for the evidence of the test that happened to run.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conformance.contract.profiles import load_profile
from conformance.contract.target_config import TargetConfig
from conformance.scenarios.inference import ScenarioBook
from conformance.transport.client import Exchange, GatewayClient, RequestBudget
from conformance.transport.gather import run_lanes


class _Counting(BaseHTTPRequestHandler):
    """Answers 200 after a short hold, counting how many requests it holds at once."""

    def do_GET(self) -> None:
        server = self.server
        with server.lock:  # type: ignore[attr-defined]
            server.now += 1  # type: ignore[attr-defined]
            server.most = max(server.most, server.now)  # type: ignore[attr-defined]
        time.sleep(0.05)
        with server.lock:  # type: ignore[attr-defined]
            server.now -= 1  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    httpd.lock, httpd.now, httpd.most = threading.Lock(), 0, 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _book(client: GatewayClient) -> ScenarioBook:
    """A real scenario book on `client` (its lanes and memo need no role of a config)."""
    return ScenarioBook(client, load_profile("pyai"), TargetConfig({"roles": {}}), allow_billable=True)


def _client(server: ThreadingHTTPServer, concurrency: int) -> GatewayClient:
    host, port = server.server_address[:2]
    return GatewayClient(f"http://{host}:{port}", concurrency=concurrency, timeout_s=10,
                         budget=RequestBudget(max_requests=100))


def test_gathered_ahead_and_gathered_now_share_the_concurrency(server) -> None:
    """A pool gathering ahead beside a pool a test gathers with: together never more in flight than
    --gather-concurrency (each pool alone may fill it)."""
    client = _client(server, concurrency=2)
    calls = [[lambda: client.request("GET", "/x", label="x")] for _ in range(6)]
    client.gather_ahead("lane", lambda stop: run_lanes(calls, client.concurrency, stop_when=stop))
    run_lanes(calls, client.concurrency)
    client.quiesce()
    client.close()
    assert len(client.exchanges) == 12 and all(e.status == 200 for e in client.exchanges)
    assert server.most <= 2, f"{server.most} gathered requests were in flight at once, more than 2"


def test_quiesce_waits_for_what_is_gathered_ahead_and_marks_it() -> None:
    """A spend reading waits (`quiesce`) until the lane gathering ahead has ended; what the lane sent
    carries its name (its evidence belongs to the tests that read it)."""
    client = GatewayClient("http://127.0.0.1:9", concurrency=2)
    gate, order = threading.Event(), []

    def lane(stop: threading.Event) -> None:
        gate.wait()
        client.record(Exchange("GET", "http://127.0.0.1:9/x", {}, None, status=200))
        order.append("lane ended")

    client.gather_ahead("upstream", lane)
    waiter = threading.Thread(target=lambda: (client.quiesce(), order.append("quiesced")))
    waiter.start()
    order.append("released")
    gate.set()
    waiter.join(timeout=30)
    assert order == ["released", "lane ended", "quiesced"]
    assert [e.ahead for e in client.exchanges] == ["upstream"]
    client.record(Exchange("GET", "http://127.0.0.1:9/y", {}, None, status=200))
    assert client.exchanges[-1].ahead is None
    client.close()


def test_stop_ahead_starts_no_further_call() -> None:
    """The run ends first: the lane's calls not started yet are never made."""
    client = GatewayClient("http://127.0.0.1:9", concurrency=2)
    started, gate = [], threading.Event()

    def call(i: int):
        def run() -> None:
            started.append(i)
            gate.wait()
        return run

    given: list[threading.Event] = []

    def lane(stop: threading.Event) -> None:
        given.append(stop)
        run_lanes([[call(i) for i in range(5)]], 1, stop_when=stop)

    client.gather_ahead("lane", lane)
    while not started:
        time.sleep(0.01)
    stopper = threading.Thread(target=client.stop_ahead)
    stopper.start()
    while not given[0].is_set():
        time.sleep(0.01)
    gate.set()
    stopper.join(timeout=30)
    assert started == [0]
    client.close()


def test_a_held_key_waits_for_its_lane_and_a_planned_reader_for_its_evidence() -> None:
    """A lane that drives a key ahead (a rate-limit window) holds it: a request of anyone else with
    that key waits until the lane ends, another key's does not; a test reading the lane's planned
    evidence waits for the lane to make it instead of making it itself (it is made once)."""
    client = GatewayClient("http://127.0.0.1:9", concurrency=2)
    gate, order, made = threading.Event(), [], []

    def evidence() -> str:
        gate.wait()
        made.append("lane")
        order.append("evidence made")
        return "evidence"

    book = _book(client)
    book.chain_ahead("sk-held", "held", ("T", 1), evidence)
    book.start_chains()
    other = threading.Thread(target=lambda: (client.wait_for_keys(("sk-other",)), order.append("other key passed")))
    other.start()
    other.join(timeout=30)
    reader = threading.Thread(target=lambda: order.append(book.once(("T", 1), lambda: made.append("reader") or "own")))
    held = threading.Thread(target=lambda: (client.wait_for_keys(("sk-held",)), order.append("held key passed")))
    reader.start()
    held.start()
    order.append("released")
    gate.set()
    reader.join(timeout=30)
    held.join(timeout=30)
    client.quiesce()
    assert made == ["lane"]
    assert order[:3] == ["other key passed", "released", "evidence made"], order
    assert set(order[3:]) == {"evidence", "held key passed"}, order
    client.close()


def test_a_spend_reading_waits_only_for_lanes_that_may_present_its_keys() -> None:
    """`quiesce(keys)`: a lane that presents one other key only is not waited for; one that may
    present any key is."""
    client = GatewayClient("http://127.0.0.1:9", concurrency=2)
    gate = threading.Event()
    client.gather_ahead("keyed", lambda stop: gate.wait(), only=("sk-limited",))
    done = []
    reading = threading.Thread(target=lambda: (client.quiesce(["sk-valid"]), done.append("valid read")))
    reading.start()
    reading.join(timeout=30)
    assert done == ["valid read"]  # not held up by the lane on another key
    blocked = threading.Thread(target=lambda: (client.quiesce(["sk-limited"]), done.append("limited read")))
    blocked.start()
    blocked.join(timeout=0.2)
    assert done == ["valid read"]  # the lane on its key is still running: the reading waits
    gate.set()
    blocked.join(timeout=30)
    assert done == ["valid read", "limited read"]
    client.close()


def test_an_sdk_back_off_leaves_the_global_random_to_hypothesis() -> None:
    """The key lane's SDK calls run beside the fuzz tests: the SDK's back-off jitter (drawn when an
    answer names no wait) must not move the global `random` module, which hypothesis watches while
    it draws (it warns, and could not replay a draw that met another thread's move)."""
    pytest.importorskip("openai")
    import httpx

    from conformance.quarantine import openai_retry_decision
    from conformance.transport import sdk

    deciding = sdk._deciding_sdk()
    state = random.getstate()
    waits = {openai_retry_decision(deciding, httpx.Response(500, request=httpx.Request("POST", "http://127.0.0.1:9/")))[1]
             for _ in range(20)}
    assert random.getstate() == state, "the SDK's jitter moved the global random module"
    assert len(waits) > 1, "the SDK's waits carried no jitter at all: not the back-off this test is about"


def test_a_balance_reading_waits_for_lanes_on_every_key() -> None:
    """A key's spend moves with its own requests only; a balance may be its wallet's or its
    organisation's, shared with keys the config does not say: a window that reads one waits for the
    lanes on every role's key (else a lane's billable burst lands in it), but those of keys a charge
    showed apart (`BillingOracle.note_apart`, from the CHG control's readings)."""
    from conformance.billing.oracle import BillingOracle

    config = TargetConfig({"roles": {"valid": {"api_key": "sk-valid", "key_id": "k-valid"},
                                     "rate_limited": {"api_key": "sk-limited", "key_id": "k-limited"}},
                           "billing": {"api_key": "sk-admin",
                                       "key_spend": {"url": "http://127.0.0.1:9/k/{key_id}", "pointer": "/s"},
                                       "balance": {"url": "http://127.0.0.1:9/b/{key_id}", "pointer": "/b"}}})
    oracle = BillingOracle(GatewayClient("http://127.0.0.1:9", concurrency=2), config)
    assert oracle.moved_by(["k-valid"], ["key_spend"]) == ["sk-valid"]
    assert oracle.moved_by(["k-valid"], ["key_spend", "balance"]) == ["sk-valid", "sk-limited"]
    assert oracle.moved_by(["k-unknown"], ["key_spend"]) is None  # a key_id no role names: any key
    oracle.note_apart("k-valid", "k-limited")  # the control's charge left the limited key's balance alone
    assert oracle.moved_by(["k-valid"], ["key_spend", "balance"]) == ["sk-valid"]
    assert oracle.moved_by(["k-valid", "k-limited"], ["balance"]) == ["sk-valid", "sk-limited"]


def test_an_exchange_starts_when_it_is_sent_not_when_it_waited(server) -> None:
    """The HAR's startedDateTime is when a request went out: one that waited for the --max-rps pace
    (or a gathering slot) shows that wait, so the evidence shows the pace the run kept."""
    host, port = server.server_address[:2]
    client = GatewayClient(f"http://{host}:{port}", concurrency=1, timeout_s=10,
                           budget=RequestBudget(max_requests=10, max_rps=10))
    made = []
    for _ in range(4):
        made.append(time.time())
        client.request("GET", "/x", label="x")
    client.close()
    starts = [e.started_at for e in client.exchanges]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert all(gap >= 0.09 for gap in gaps), f"requests shown {gaps} s apart at --max-rps 10"
    assert all(start >= at for start, at in zip(starts, made, strict=True))
