"""The suite's side of the fault-injecting provider: which model plays which fault, what the
provider saw, and one cached exchange per fault (UPS-1..8).

Every request a UPS test sends carries a fresh marker (`gwc-mark-…`) in its message text; the
provider records the markers it finds, so "this request never reached the provider" and "the
gateway sent it upstream N times" are questions about one marker, whatever else runs at the same
time (xdist workers, other tests).
"""

from __future__ import annotations

import functools
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from conformance.contract.target_config import TargetConfig
from conformance.scenarios.scenario import Memo
from conformance.servers import faults
from conformance.transport.client import NOT_JSON, Exchange, GatewayClient
from conformance.transport.gather import run_lanes

CHAT = "/v1/chat/completions"
# Faults that may make a correct gateway slow, and the requirement that judges that: a stalled provider
# (UPS-8, a SHOULD) and a provider 429 whose Retry-After a gateway may wait out in the request (UPS-4).
SLOW_ON_PURPOSE = {"slow": "UPS-8", "rate_limited": "UPS-4"}
PROMPT = "Count from one to twenty in words please"  # the same word count in every UPS request
MARKERS_PER_READ = 40  # markers one read of the provider's log asks for (its URL stays short)
T = TypeVar("T")


class ProviderUnavailable(Exception):
    """The provider's request log could not be read: the UPS test cannot decide (inconclusive)."""


def new_marker() -> str:
    return "gwc-mark-" + secrets.token_hex(8)


class ProviderView:
    """The target config's `provider` section, and reads of the provider's request log."""

    def __init__(self, client: GatewayClient, config: TargetConfig) -> None:
        self.client = client
        self.section: dict[str, Any] = config.section("provider") or {}
        self.records_url = str(self.section.get("records_url", "")).rstrip("/")
        self.api_key: str | None = self.section.get("api_key") or None
        self.internal_address = str(self.section.get("internal_address") or urlsplit(self.records_url).netloc)
        self.mapping: dict[str, str] = dict(self.section.get("models") or {})
        self.role = str(self.section.get("role") or "valid")  # whose key the UPS requests carry
        self._records: dict[str, list[dict[str, Any]]] = {}
        self._answered: dict[str, None] = {}  # markers whose request the gateway answered, not yet read
        self._guard = threading.Lock()
        self._batched = True  # until a provider shows it does not echo a list of markers

    def model(self, fault: str) -> str:
        """The model name to send the gateway for `fault` ("ok": the success model)."""
        return faults.model_for(fault, self.mapping)

    def routes(self, model: str) -> bool:
        """Whether the gateway is known to route `model` to the provider: the provider's own names
        (`gwc-ok`, `gwc-fault/…`) or a name the config maps in `provider.models`."""
        return model == faults.OK_MODEL or model.startswith(faults.FAULT_PREFIX) or model in self.mapping.values()

    def body(self, fault: str, marker: str, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model(fault), "max_tokens": 16,
                                "messages": [{"role": "user", "content": f"{PROMPT} {marker}"}]}
        body.update(overrides)
        return body

    def answered(self, marker: str) -> None:
        """The gateway answered the request carrying `marker`: the next read of the log may read its
        records too (what the provider saw of it is settled once the client has the answer)."""
        with self._guard:
            if marker not in self._records:
                self._answered[marker] = None

    def records(self, marker: str) -> list[dict[str, Any]]:
        """The provider's records of requests carrying `marker`, read once per marker: every read
        follows the gateway's answer to the request that carried it, so a second read of the same
        marker (UPS-2 and UPS-3 both check that 401 reached the provider) would say the same. One
        read asks for every answered marker not yet read (the gathered faults: one request, not one
        each)."""
        if marker not in self._records:
            with self._guard:
                batch = [marker, *(m for m in self._answered if m != marker)][:MARKERS_PER_READ] \
                    if self._batched else [marker]
            self._read_records(batch)
        return self._records[marker]

    def read_answered(self) -> None:
        """Read the log for the markers answered and not read yet (gathering ahead: the tests then
        find their records there)."""
        with self._guard:
            first = next(iter(self._answered), None)
        if first is not None:
            self.records(first)

    def _read_records(self, markers: list[str]) -> None:
        exchange = self.client.request("GET", f"{self.records_url}/_provider/requests", params={"marker": markers},
                                       label="provider:records")
        body = exchange.json() if exchange.status == 200 else NOT_JSON
        if body is NOT_JSON or not isinstance(body, dict) or not isinstance(body.get("requests"), list):
            raise ProviderUnavailable(f"provider.records_url: {exchange.describe()} gave no request log "
                                      f"({exchange.error or exchange.status})")
        if len(markers) > 1 and body.get("markers") != markers:
            # A provider that filters by one marker only (no echo): read each marker by itself.
            with self._guard:
                self._batched = False
            self._read_records(markers[:1])
            return
        found = [r for r in body["requests"] if isinstance(r, dict)]
        with self._guard:
            for marker in markers:
                self._records[marker] = [r for r in found if marker in (r.get("markers") or [])]
                self._answered.pop(marker, None)

    def leaks(self, exchange: Exchange) -> list[str]:
        """UPS-2: the provider's credential or internal address anywhere in the answer."""
        if exchange.status is None:
            return []
        text = exchange.text
        headers = " ".join(f"{k}: {v}" for k, v in exchange.headers.items()) if exchange.headers else ""
        found = []
        if self.api_key and (self.api_key in text or self.api_key in headers):
            found.append(f"{exchange.describe()}: the answer contains the gateway's provider key (provider.api_key)")
        address = self.internal_address
        if address and (address in text or address in headers):
            found.append(f"{exchange.describe()}: the answer names the provider's internal address {address}")
        return found


class FaultBook:
    """One exchange per (fault, stream), sent once per session: several requirements judge each."""

    def __init__(self, client: GatewayClient, view: ProviderView, api_key: str) -> None:
        self.client, self.view, self.api_key = client, view, api_key
        self._sent: dict[tuple[str, bool], tuple[Exchange, str]] = {}
        self._read: dict[tuple[str, bool], None] = {}  # what tests asked for, in order (`sent`)
        self._locks: dict[tuple[str, bool], threading.Lock] = {}
        self._guard = threading.Lock()
        # `once`'s memo: what the UPS tests send or read besides the faults (a control, a rejection,
        # a request cost), made by whichever comes first, a gathering lane or the test.
        self._once = Memo()

    def send(self, fault: str, *, stream: bool = False, label: str | None = None, **overrides: Any) -> tuple[Exchange, str]:
        """A fresh request playing `fault` → (exchange, its marker)."""
        marker = new_marker()
        body = self.view.body(fault, marker, **({"stream": True} if stream else {}), **overrides)
        exchange = self.client.request("POST", CHAT, api_key=self.api_key, json=body,
                                       label=label or f"provider:{fault}{':stream' if stream else ''}",
                                       slow_on_purpose=SLOW_ON_PURPOSE.get(faults.parse(faults.model_for(fault)).kind))
        self.view.answered(marker)
        return exchange, marker

    def get(self, fault: str, *, stream: bool = False) -> tuple[Exchange, str]:
        key = (fault, stream)
        self._read[key] = None
        return self.fetch(fault, stream=stream)

    def fetch(self, fault: str, *, stream: bool = False) -> tuple[Exchange, str]:
        """`get` without listing the exchange among what tests read (`sent`)."""
        key = (fault, stream)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # being gathered right now: wait for that answer, never send twice
            if key not in self._sent:
                self._sent[key] = self.send(key[0], stream=key[1])
            return self._sent[key]

    def once(self, key: Any, make: Callable[[], T]) -> T:
        """`make()`'s result the first time `key` is asked for, the same result after (a gathering
        lane and the test that reads it share one request). A raise is not kept: the next asker
        meets it again (a skip raised before anything was sent)."""
        return self._once(key, make)

    def prefetch(self, faults: list[str], keys: Iterable[tuple[str, bool]] = (),
                 lanes: Sequence[Sequence[Callable[[], object]]] = (), stop_when: threading.Event | None = None) -> None:
        """Send the (non-streaming) faults, and the (fault, stream) `keys`, side by side before the
        tests that read them: each is its own request with its own marker, so none waits on another.
        `lanes`: further calls the tests will make (each lane's in order), side by side with them.
        The faults that keep a correct gateway slow on purpose (a stalled provider) go first, so the
        rest is sent while they wait instead of after. `stop_when`: see `run_lanes`."""
        todo = [key for key in dict.fromkeys([*((fault, False) for fault in faults), *keys]) if key not in self._sent]

        def fetches(slow: bool) -> list[list[Callable[[], object]]]:
            return [[functools.partial(self.fetch, fault, stream=stream)] for fault, stream in todo
                    if faults_slow(fault) == slow]

        run_lanes([*fetches(True), *lanes, *fetches(False)], self.client.concurrency, stop_when=stop_when)

    def sent(self) -> list[Exchange]:
        """The exchanges tests read so far (gathered ones only once a test read them)."""
        return [self._sent[key][0] for key in self._read if key in self._sent]


def faults_slow(fault: str) -> bool:
    """Whether a correct gateway may take long over `fault` (SLOW_ON_PURPOSE)."""
    return faults.parse(faults.model_for(fault)).kind in SLOW_ON_PURPOSE
