"""The one HTTP client every conformance test uses.

Why not plain httpx in each test: the suite must keep promises no single test can — a request
budget and rate cap shared by the whole run, redirects never followed (a redirect to another host
must not receive our credentials), bodies read with a size cap and an overall deadline (a hostile
target must not hang or flood us), and every exchange kept, redacted, as evidence.
"""

from __future__ import annotations

import errno
import functools
import json as jsonlib
import re
import shlex
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from conformance.errors import ConformanceError
from conformance.transport.deadline import DeadlineExceeded, deadline_transport, read_capped, within
from conformance.transport.redact import Redactor
from conformance.transport.wire_tap import Delivered, Tap, snapshot, tapping

MAX_BODY_BYTES = 1_048_576
# Evidence stays small however hostile the target or the request (FUZ-2 sends 1.1 MB bodies and
# 8 KB headers): every text is capped, with a visible marker saying how much was left out.
EVIDENCE_BODY_CHARS = 2_000
EVIDENCE_HEADER_CHARS = 512
EVIDENCE_MAX_HEADERS = 40
# A presented credential shorter than this is a fuzzer's junk ("Bearer", "null"), not a key to mask.
MIN_SECRET_CHARS = 12
_UNSET: Any = object()
# Threads of the gathering pools (`transport.gather`) are named with this prefix; those that gather
# ahead of the tests in the background (`GatewayClient.gather_ahead`, and the pools they start) with
# AHEAD_THREAD + the lane's name.
GATHER_THREAD = "gwc-gather"
AHEAD_THREAD = "gwc-gather-ahead:"


class BudgetExhausted(ConformanceError):
    """The run's --max-requests is spent; what is left cannot be checked."""


class TargetTooSlow(BudgetExhausted):
    """The target let several requests in a row run into request_timeout_s: the run stops instead of
    paying the timeout on every remaining request (a budget spent by the target, not by the user)."""


# Timeouts in a row after which the target counts as too slow to test. One hang is a finding (FUZ-2
# stops at the first); three in a row on different requests is a target that does not answer.
SLOW_STREAK = 3


def normalise_base_url(url: str) -> str:
    """`https://gw.example/v1/` → `https://gw.example`: tests always ask for `/v1/...` paths."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class RequestBudget:
    """Counts requests against --max-requests and spaces them to respect --max-rps (thread-safe)."""

    def __init__(self, max_requests: int | None = None, max_rps: float | None = None) -> None:
        self.max_requests = max_requests
        self.max_rps = max_rps
        self.sent = 0
        self.sent_ahead = 0  # of `sent`, those gathered ahead in the background (`GatewayClient.gather_ahead`)
        self._next_slot = 0.0
        self._lock = threading.Lock()

    @property
    def spent(self) -> bool:
        """Every request of --max-requests is sent: whatever still needs one cannot be checked."""
        return self.max_requests is not None and self.sent >= self.max_requests

    def spent_reason(self) -> str:
        return f"budget spent: --max-requests {self.max_requests} already sent"

    def acquire(self) -> None:
        with self._lock:
            if self.max_requests is not None and self.sent >= self.max_requests:
                raise BudgetExhausted(self.spent_reason())
            self.sent += 1
            if threading.current_thread().name.startswith(AHEAD_THREAD):
                self.sent_ahead += 1
            wait = 0.0
            if self.max_rps:
                now = time.monotonic()
                slot = max(now, self._next_slot)
                self._next_slot = slot + 1.0 / self.max_rps
                wait = slot - now
        if wait > 0:
            time.sleep(wait)


@dataclass
class Exchange:
    """One request and what came back (or why nothing did). Holds raw data; render via `evidence`."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes | None
    status: int | None = None
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    body: bytes = b""
    truncated: bool = False
    error: str | None = None
    elapsed_s: float = 0.0
    label: str = ""
    presented_credentials: tuple[str, ...] = ()
    # Wall clock, for the HAR's startedDateTime: when the request went out (`_send_once`), not when
    # it was made — it may wait for a lane's key, the --max-rps pace or a gathering slot first.
    started_at: float = field(default_factory=time.time)
    burst: int = 0  # the n-th request of a burst with one key (a rate limit needs the n-1 before it)
    # The requirement that made this answer slow on purpose (a provider told to stall, UPS-8; told to
    # ask for a long Retry-After, UPS-4): that requirement judges its timing, at its own level, and
    # the whole-run FUZ-2 check does not.
    slow_on_purpose: str | None = None
    # `GatewayClient.stream_until` only: the body as far as it had reached this machine (parsed, or
    # read and waiting in the parser or the kernel's receive buffer) when the stream was cut, or when
    # its `mark` first held. None for every other exchange.
    delivered: Delivered | None = None
    # The gathering-ahead lane that sent it (`GatewayClient.gather_ahead`), None for a request sent
    # by the test then running or for it: an exchange gathered ahead belongs to the test that reads
    # (cites) it, not to whichever test was running when it came back.
    ahead: str | None = None
    _json: Any = field(default=_UNSET, repr=False)

    def __repr__(self) -> str:
        # pytest's assertion rewriting prints the repr of what an assert touched: never the credentials
        return f"Exchange({self.describe()})"

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None

    @property
    def content_type(self) -> str:
        value: str = self.headers.get("content-type", "")  # httpx.Headers.get returns Any
        return value.split(";")[0].strip().lower()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The parsed body, or `NOT_JSON` (falsy) when there is none or it does not parse."""
        if self._json is _UNSET:
            try:
                self._json = jsonlib.loads(self.body.decode("utf-8")) if self.body else NOT_JSON
            except (UnicodeDecodeError, ValueError):
                self._json = NOT_JSON
        return self._json

    def header(self, name: str) -> str | None:
        value: str | None = self.headers.get(name)  # httpx.Headers.get returns Any
        return value

    def describe(self) -> str:
        """`POST /v1/chat/completions → 429`: how failures name the exchange (no credentials)."""
        path = urlsplit(self.url).path or "/"
        outcome = str(self.status) if self.status is not None else f"no response ({self.error})"
        return f"{self.method} {path} → {outcome}"

    def evidence(self, redactor: Redactor) -> dict[str, Any]:
        request: dict[str, Any] = {
            "method": self.method,
            "url": _capped(redactor.text(self.url), EVIDENCE_BODY_CHARS),
            "headers": _capped_headers(redactor.headers(self.request_headers)),
        }
        if self.request_body:
            request["body"] = _capped_body(self.request_body, redactor)
        response: dict[str, Any] | None = None
        if self.status is not None:
            body = _capped_body(self.body, redactor)
            if self.truncated and not body.endswith("]"):
                body += f"… [truncated: the client stopped reading at {len(self.body)} bytes]"
            response = {
                "status": self.status,
                "headers": _capped_headers(redactor.headers(self.headers.multi_items())),
                "body": body,
            }
        out: dict[str, Any] = {"request": request, "response": response, "curl": self.curl(redactor)}
        if self.error:
            out["error"] = _capped(redactor.text(self.error), EVIDENCE_HEADER_CHARS)
        return out

    def curl(self, redactor: Redactor) -> str:
        """A shell line that resends this request (credentials masked, or the variable that holds
        them; oversized parts cut, with a marker). A WebSocket handshake gets a command that opens
        one (curl cannot); the n-th request of a burst gets the loop that sends all n."""
        if urlsplit(self.url).scheme in ("ws", "wss"):
            parts = ["python", "-m", "conformance.transport.ws_probe",
                     shell_quote(_capped(redactor.text(self.url), EVIDENCE_BODY_CHARS))]
        else:
            parts = ["curl", "-sS", "-i", "-X", self.method, shell_quote(_capped(redactor.text(self.url), EVIDENCE_BODY_CHARS))]
        notes: list[str] = []
        shown = 0
        for name, value in self.request_headers.items():
            if name.lower() in ("content-length", "host", "accept-encoding", "connection", "user-agent", "accept"):
                continue
            shown += 1
            if shown > EVIDENCE_MAX_HEADERS:
                parts.append(f"# … {len(self.request_headers) - EVIDENCE_MAX_HEADERS} more headers not shown")
                break
            parts += ["-H", self._header_arg(name, value, redactor, notes)]
        if self.request_body:
            parts += ["--data-raw", shell_quote(_capped_body(self.request_body, redactor))]
        line = " ".join(parts)
        if self.burst > 1:
            line = (f"for i in $(seq {self.burst}); do {line}; done   "
                    f"# request {self.burst} of a burst with one key: the {self.burst - 1} before it use up the limit")
        if notes:
            line += ("   " if self.burst <= 1 else "; ") + "# " + "; ".join(notes)
        return line

    def _header_arg(self, name: str, value: str, redactor: Redactor, notes: list[str]) -> str:
        """`-H` argument for one header: a masked credential becomes `$VAR` when the target config
        read it from that variable, else stays masked with a note saying where the key lives."""
        for secret in self.presented_credentials:
            hint = redactor.hint_for(secret)
            if hint is None or secret not in value:
                continue
            variable, where = hint
            prefix = value.replace(secret, "\x00").split("\x00")[0]
            if variable and value == prefix + secret and re.fullmatch(r"[A-Za-z0-9 _-]*", prefix):
                return f'"{name}: {prefix}${variable}"'
            notes.append(f"masked key: put back {where} from the target config")
            break
        return shell_quote(_capped(f"{name}: {redactor.header_value(name, value)}", EVIDENCE_HEADER_CHARS))


def _capped(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"… [truncated: {len(text)} characters]"


def _capped_body(body: bytes, redactor: Redactor) -> str:
    text = redactor.text(body[: EVIDENCE_BODY_CHARS * 4].decode("utf-8", "replace"))
    if len(body) <= EVIDENCE_BODY_CHARS and len(text) <= EVIDENCE_BODY_CHARS:
        return text
    return text[:EVIDENCE_BODY_CHARS] + f"… [truncated: {len(body)} bytes]"


def _capped_headers(headers: dict[str, str]) -> dict[str, str]:
    items = list(headers.items())
    out = {_capped(k, EVIDENCE_HEADER_CHARS): _capped(v, EVIDENCE_HEADER_CHARS) for k, v in items[:EVIDENCE_MAX_HEADERS]}
    if len(items) > EVIDENCE_MAX_HEADERS:
        out["…"] = f"[truncated: {len(items) - EVIDENCE_MAX_HEADERS} more headers]"
    return out


def shell_quote(text: str) -> str:
    """`shlex.quote`, except that text with control characters (a fuzzer's NUL byte) becomes a
    bash `$'…'` string with escapes, so a terminal shows it and a shell resends the same bytes."""
    if text.isprintable():
        return shlex.quote(text)
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == "'":
            out.append("\\'")
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
    return "$'" + "".join(out) + "'"


class _NotJson:
    def __repr__(self) -> str:
        return "NOT_JSON"

    def __bool__(self) -> bool:
        return False


NOT_JSON: Any = _NotJson()

Listener = Callable[[Exchange], None]


class GatewayClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 30.0,
        headers: Mapping[str, str] | None = None,
        budget: RequestBudget | None = None,
        redactor: Redactor | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        concurrency: int = 1,
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        # How many requests the callers that gather independent evidence (transport.gather) may
        # have in flight at once on this client: its one connection pool and budget serve them all.
        self.concurrency = max(1, concurrency)
        self.timeout_s = timeout_s
        self.default_headers = dict(headers or {})
        self.budget = budget or RequestBudget()
        self.redactor = redactor or Redactor()
        self.max_body_bytes = max_body_bytes
        self.listeners: list[Listener] = []
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        # Gathered requests in flight at once, whichever pool sends them: a pool gathering in the
        # background beside a test's own never makes it more than `concurrency`.
        self._gather_slots = threading.BoundedSemaphore(self.concurrency)
        # (thread, stop, the api keys its requests present: None when it may present any)
        self._ahead: list[tuple[threading.Thread, threading.Event, frozenset[str] | None]] = []
        # api key → the lane gathering ahead that holds it (drives it into its rate limit): nobody
        # else presents it until the lane ends.
        self._held: dict[str, str] = {}
        self._keys_free = threading.Condition()
        self._timeouts_in_a_row = 0
        self.too_slow: str | None = None  # set once SLOW_STREAK requests in a row timed out
        self._http = httpx.Client(
            limits=httpx.Limits(max_connections=max(100, self.concurrency), max_keepalive_connections=max(20, self.concurrency),
                                keepalive_expiry=KEEPALIVE_EXPIRY_S),
            follow_redirects=False,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            headers={"user-agent": "gateway-conformance"},
            trust_env=False,
            transport=deadline_transport(),
        )

    def close(self) -> None:
        self._http.close()

    def url(self, path: str) -> str:
        if "://" in path:
            return path
        return self.base_url + ("" if path.startswith("/") else "/") + path

    def request(
        self,
        method: str,
        path: str,
        *,
        api_key: str | None = None,
        scheme: str = "Bearer",
        authorization: str | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = _UNSET,
        content: bytes | str | None = None,
        params: Mapping[str, str | Sequence[str]] | None = None,
        label: str = "",
        timeout_s: float | None = None,
        slow_on_purpose: str | None = None,
    ) -> Exchange:
        """Send one request and return its `Exchange`; transport failures are data (`.error`), not raises.
        `slow_on_purpose`: the requirement whose test asked for a slow answer (see `Exchange`)."""
        send_headers: dict[str, str] = dict(self.default_headers)
        presented: list[str] = []
        if authorization is not None:
            send_headers["authorization"] = authorization
            # The credential is what follows the scheme; `Bearer` alone presents none (the scheme
            # word comes back in a correct RFC 6750 challenge).
            scheme_word, _, credential = authorization.strip().partition(" ")
            presented.append(credential.strip() if credential.strip() else ("" if scheme_word.isalpha() else authorization))
        elif api_key is not None:
            send_headers["authorization"] = f"{scheme} {api_key}".strip()
            presented.append(api_key)
        body: bytes | None = None
        if json is not _UNSET:
            body = jsonlib.dumps(json).encode()
            send_headers.setdefault("content-type", "application/json")
        elif content is not None:
            body = content.encode() if isinstance(content, str) else content
        if headers:
            send_headers.update(headers)
        # A fuzzer's "Bearer" or "null" is no secret: registering it would mask every later "Bearer"
        # (the `authorization: REDACTED sk-…REDACTED` of a FUZ-1 reason). Keys are long.
        self.redactor.add(*(p for p in presented if p and len(p.strip()) >= MIN_SECRET_CHARS))
        url = self.url(path)
        exchange = Exchange(
            method=method.upper(),
            url=url if not params else str(httpx.URL(url, params=params)),
            request_headers=send_headers,
            request_body=body,
            label=label,
            presented_credentials=tuple(p for p in presented if p),
            slow_on_purpose=slow_on_purpose,
        )
        if self.too_slow is not None:
            raise TargetTooSlow(self.too_slow)
        self.wait_for_keys(exchange.presented_credentials)
        self.budget.acquire()
        with self._gathered(exchange):
            self._send(exchange, timeout_s or self.timeout_s)
        self.record(exchange)
        self._count_timeouts(exchange)
        return exchange

    def stream_until(self, exchange: Exchange, stop: Callable[[int, bytes], bool],
                     mark: Callable[[int, bytes], bool] | None = None) -> Exchange:
        """Send `exchange`'s request and read its body only until `stop(status, received)` says so,
        then close the connection (a client cutting a stream off mid-way). Same budget, deadline,
        size cap and evidence as `request`. `exchange.delivered` is what the gateway had delivered to
        this machine (`received` plus what was already waiting in buffers) at the first moment
        `mark(status, received)` held, or else when `stop` cut: a starved client reads late, but
        what had arrived by then is counted all the same."""
        if self.too_slow is not None:
            raise TargetTooSlow(self.too_slow)

        def read_until_stop(response: httpx.Response, deadline: float) -> tuple[bytes, bool]:
            received = bytearray()
            for chunk in response.iter_raw():
                received += chunk
                if len(received) >= self.max_body_bytes:
                    return bytes(received[: self.max_body_bytes]), True
                marked = mark is not None and exchange.delivered is None and mark(response.status_code, bytes(received))
                cut = stop(response.status_code, bytes(received))
                if (marked or cut) and exchange.delivered is None:
                    exchange.delivered = _delivered_now(tap, response.headers, bytes(received))
                if cut:
                    break
            return bytes(received), False

        self.wait_for_keys(exchange.presented_credentials)
        self.budget.acquire()
        with self._gathered(exchange), tapping() as tap:
            self._send(exchange, self.timeout_s, read_until_stop, restart=tap.restart)  # closing the response is the cut
        self.record(exchange)
        self._count_timeouts(exchange)
        return exchange

    @contextmanager
    def _gathered(self, exchange: Exchange) -> Iterator[None]:
        """A request sent by a gathering pool holds one of the `concurrency` slots while in flight."""
        if not threading.current_thread().name.startswith(GATHER_THREAD):
            yield
            return
        with self._gather_slots:
            yield

    def gather_ahead(self, lane: str, work: Callable[[threading.Event], object], *,
                     holds: Sequence[str] = (), only: Sequence[str] | None = None) -> threading.Event:
        """Run `work(stop)` in a background thread while the tests go on: evidence that nothing the
        tests do before its readers can change, gathered ahead of them. Its requests (and those of
        the pools it starts) share the `concurrency` slots and are marked `Exchange.ahead`; `stop`
        is set when the run ends before `work` does. `quiesce()` waits for every such thread.
        `holds`: api keys whose order of requests the lane needs (a rate-limit window): from now
        until `work` ends, a request of anyone else presenting one waits (`wait_for_keys`).
        `only`: the api keys its requests present, if it presents no other (a spend reading of
        other keys then need not wait for it, `quiesce`). Returns an event set once `work` has
        ended (its readers wait for it)."""
        stop, ended = threading.Event(), threading.Event()
        with self._keys_free:
            self._held.update(dict.fromkeys(holds, lane))

        def run() -> None:
            try:
                work(stop)
            except BaseException:  # noqa: BLE001 - gathering never judges (a skip included): the readers meet it again
                pass
            finally:
                with self._keys_free:
                    for key in holds:
                        if self._held.get(key) == lane:
                            del self._held[key]
                    self._keys_free.notify_all()
                ended.set()

        thread = threading.Thread(target=run, name=AHEAD_THREAD + lane, daemon=True)
        with self._lock:
            self._ahead.append((thread, stop, None if only is None else frozenset(only)))
        thread.start()
        return ended

    def wait_for_keys(self, presented: Sequence[str]) -> None:
        """Wait while a lane gathering ahead holds one of the `presented` keys (a caller that reads
        what the lane gathers calls it first, holding no lock the lane could need)."""
        if not self._held or not presented:
            return
        lane = ahead_lane()
        with self._keys_free:
            while any(self._held.get(key) not in (None, lane) for key in presented):
                self._keys_free.wait()

    def quiesce(self, keys: Sequence[str] | None = None) -> None:
        """Stop every lane gathering ahead that may present one of `keys` (None: any key) and wait
        for it: a spend reading is about to open a window on them, and no request of ours may land
        in it but the ones it prices. A stopped lane starts no further call (its readers make what it
        did not, in their order); the calls in flight end, each bounded by the request timeout (a
        Retry-After wait, by limits.retry_after_cap_s). Never waits for a lane to reach something
        the caller would have to do first. A no-op in a thread that gathers ahead itself."""
        if threading.current_thread().name.startswith(AHEAD_THREAD):
            return
        with self._lock:
            running = [(thread, stop) for thread, stop, only in self._ahead
                       if keys is None or only is None or only & set(keys)]
        for _, stop in running:
            stop.set()
        for thread, _ in running:
            thread.join()

    def stop_ahead(self) -> None:
        """The run is ending: start no further gathered-ahead call, wait for the ones in flight."""
        self.quiesce()

    def _count_timeouts(self, exchange: Exchange) -> None:
        with self._lock:
            if exchange.error is None or not exchange.error.startswith("timed out"):
                self._timeouts_in_a_row = 0
                return
            self._timeouts_in_a_row += 1
            if self._timeouts_in_a_row < SLOW_STREAK or self.too_slow is not None:
                return
            self.too_slow = (
                f"stopped: target {self.redactor.text(self.base_url)} did not answer {SLOW_STREAK} requests in a row "
                f"within request_timeout_s ({self.timeout_s:g} s); check the target, or raise request_timeout_s "
                f"in the target config")
        raise TargetTooSlow(self.too_slow)

    def _send(self, exchange: Exchange, timeout_s: float,
              read: Callable[[httpx.Response, float], tuple[bytes, bool]] | None = None,
              restart: Callable[[], None] | None = None) -> None:
        """Fill `exchange` with the answer; `read(response, deadline)` reads the body (default: all
        of it, capped); `restart()` runs before the one retry (a tap forgets the failed attempt)."""
        read = read or (lambda response, deadline: read_capped(response, self.max_body_bytes, deadline))
        if self._send_once(exchange, timeout_s, read):
            # Our own socket was gone (EBADF), or the connection closed before a byte of an answer:
            # the target may never have had a fair chance to answer, so the request goes again once
            # (counted against --max-requests like any other). A target that drops the request
            # drops it again, and is judged on that.
            self.budget.acquire()
            exchange.status, exchange.headers, exchange.body, exchange.truncated, exchange.error = (
                None, httpx.Headers(), b"", False, None)
            exchange.delivered = None
            if restart is not None:
                restart()
            self._send_once(exchange, timeout_s, read)

    def _send_once(self, exchange: Exchange, timeout_s: float,
                   read: Callable[[httpx.Response, float], tuple[bytes, bool]]) -> bool:
        """One attempt; True when it failed on a fault of this process, not of the target."""
        exchange.started_at = time.time()
        started = time.monotonic()
        deadline = started + timeout_s
        try:
            with within(timeout_s):  # also bounds a status line / headers dripped byte by byte
                request = self._http.build_request(
                    exchange.method,
                    exchange.url,
                    headers=httpx.Headers(exchange.request_headers, encoding="utf-8"),  # fuzzers send non-ASCII
                    content=exchange.request_body,
                    timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
                )
                response = self._http.send(request, stream=True)
                try:
                    exchange.status = response.status_code
                    exchange.headers = response.headers
                    exchange.body, exchange.truncated = read(response, deadline)
                finally:
                    response.close()
            if time.monotonic() > deadline:
                exchange.error = f"timed out: the response took longer than {timeout_s:g} s"
        except httpx.TimeoutException:
            exchange.error = f"timed out after {timeout_s:g} s"
        except httpx.HTTPError as exc:
            exchange.error = _describe_transport_error(exc)
            return _local_fault(exc) or _closed_before_answering(exc, answered=exchange.status is not None)
        except DeadlineExceeded:
            exchange.error = f"timed out: the response body took longer than {timeout_s:g} s"
        finally:
            exchange.elapsed_s = time.monotonic() - started
        return False

    def record(self, exchange: Exchange) -> None:
        """Keep an exchange sent by other means (the SDK, a WebSocket handshake) as evidence, and
        show it to the listeners (the whole-run observer), like every request of this client. One
        sent from a thread that gathers ahead is marked with its lane (`Exchange.ahead`)."""
        exchange.ahead = exchange.ahead or ahead_lane()
        with self._lock:
            self.exchanges.append(exchange)
        for listener in list(self.listeners):
            listener(exchange)


def ahead_lane() -> str | None:
    """The lane gathering ahead the current thread works for (`GatewayClient.gather_ahead`), if any."""
    name = threading.current_thread().name
    return name[len(AHEAD_THREAD):].split("/", 1)[0] if name.startswith(AHEAD_THREAD) else None


def _delivered_now(tap: Tap, headers: httpx.Headers, received: bytes) -> Delivered:
    """What the tapped response had delivered by now; never less than what the client parsed (the
    parsed bytes alone where the wire cannot be de-framed)."""
    now = snapshot(tap, headers)
    if now is None or not now.body.startswith(received):
        return Delivered(received, whole=False, peeked=False)
    return now


@functools.lru_cache(maxsize=32)
def source_addresses(url: str) -> frozenset[str]:
    """The addresses this process connects to `url`'s host from: the client's own, which a gateway may
    name back to it ("requests from 127.0.0.1 are not allowed") without revealing anything of its
    own. A connected UDP socket asks the routing table and sends nothing."""
    host = urlsplit(url).hostname or ""
    found: set[str] = set()
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except (OSError, UnicodeError):
        return frozenset()
    for family, _, _, _, address in infos[:8]:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((address[0], 9))
                found.add(str(probe.getsockname()[0]).split("%")[0])
        except OSError:
            continue
    return frozenset(found)


# Servers close an idle connection after a few seconds (uvicorn and Node.js: 5 s, httpx's own default
# expiry too). A request sent on a kept-alive connection just as the server closes it meets a reset
# the suite would blame on the gateway (seen once in a loaded kill matrix: ENV-6 "Connection reset by
# peer" on a stream). Reusing a connection only within a second stays clear of any such timeout.
KEEPALIVE_EXPIRY_S = 1.0


def _local_fault(exc: BaseException) -> bool:
    """A failure of this process's own file descriptor (EBADF), never the target's doing: seen once
    under a loaded kill matrix as `ReadError: [Errno 9] Bad file descriptor` on a fuzzed request,
    which FUZ-1 would otherwise have blamed on the gateway as a dropped connection."""
    return _caused_by(exc, errno.EBADF)


def _caused_by(exc: BaseException, code: int) -> bool:
    """Whether an OSError with errno `code` is in `exc`'s chain of causes."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno == code:
            return True
        current = current.__cause__ or current.__context__
    return False


def _closed_before_answering(exc: BaseException, *, answered: bool) -> bool:
    """The connection closed before the target sent a byte of an answer (httpcore: "Server
    disconnected without sending a response"), or was reset before a status line: a server's
    kernel resets a connection closed with the request still unread, so it was never handled (a
    kept-alive connection the server let go just as the request went out). On a loaded machine each
    met a request the gateway answers at once when sent again (a stray FUZ-1 and a stray ENV-6 in
    kill-matrix cells, 2026-12-03). One resend tells a transient close from a gateway that drops
    the request; a reset once an answer has begun is the target's."""
    if isinstance(exc, httpx.RemoteProtocolError) and "without sending a response" in str(exc):
        return True
    return not answered and _caused_by(exc, errno.ECONNRESET)


def _describe_transport_error(exc: httpx.HTTPError) -> str:
    cause = exc.__cause__ or exc.__context__
    detail = str(exc) or (str(cause) if cause else "") or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {detail}"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.LocalProtocolError)):
        return f"not a valid HTTP response: {detail}"
    if isinstance(exc, httpx.DecodingError):
        return f"undecodable response body: {detail}"
    return f"{type(exc).__name__}: {detail}"
