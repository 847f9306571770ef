"""The one HTTP client every conformance test uses.

Why not plain httpx in each test: the suite must keep promises no single test can — a request
budget and rate cap shared by the whole run, redirects never followed (a redirect to another host
must not receive our credentials), bodies read with a size cap and an overall deadline (a hostile
target must not hang or flood us), and every exchange kept, redacted, as evidence.
"""

from __future__ import annotations

import json as jsonlib
import shlex
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit, urlunsplit

import httpx

from conformance.transport.deadline import DeadlineExceeded, deadline_transport, read_capped, within
from conformance.errors import ConformanceError
from conformance.transport.redact import Redactor

MAX_BODY_BYTES = 1_048_576
EVIDENCE_BODY_CHARS = 2_000
_UNSET: Any = object()


class BudgetExhausted(ConformanceError):
    """The run's --max-requests is spent; what is left cannot be checked."""


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
        self._next_slot = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            if self.max_requests is not None and self.sent >= self.max_requests:
                raise BudgetExhausted(f"request budget exhausted: --max-requests {self.max_requests} already sent")
            self.sent += 1
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
    _json: Any = field(default=_UNSET, repr=False)

    def __repr__(self) -> str:
        # pytest's assertion rewriting prints the repr of what an assert touched: never the credentials
        return f"Exchange({self.describe()})"

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

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
        return self.headers.get(name)

    def describe(self) -> str:
        """`POST /v1/chat/completions → 429`: how failures name the exchange (no credentials)."""
        path = urlsplit(self.url).path or "/"
        outcome = str(self.status) if self.status is not None else f"no response ({self.error})"
        return f"{self.method} {path} → {outcome}"

    def evidence(self, redactor: Redactor) -> dict[str, Any]:
        body = self.text
        if len(body) > EVIDENCE_BODY_CHARS:
            body = body[:EVIDENCE_BODY_CHARS] + f"… [{len(self.body)} bytes]"
        request: dict[str, Any] = {
            "method": self.method,
            "url": redactor.text(self.url),
            "headers": redactor.headers(self.request_headers),
        }
        if self.request_body:
            request["body"] = redactor.text(self.request_body[:EVIDENCE_BODY_CHARS].decode("utf-8", "replace"))
        response: dict[str, Any] | None = None
        if self.status is not None:
            response = {
                "status": self.status,
                "headers": redactor.headers(self.headers.multi_items()),
                "body": redactor.text(body),
            }
        out: dict[str, Any] = {"request": request, "response": response, "curl": self.curl(redactor)}
        if self.error:
            out["error"] = redactor.text(self.error)
        return out

    def curl(self, redactor: Redactor) -> str:
        parts = ["curl", "-sS", "-i", "-X", self.method, shlex.quote(redactor.text(self.url))]
        for name, value in self.request_headers.items():
            if name.lower() in ("content-length", "host", "accept-encoding", "connection", "user-agent", "accept"):
                continue
            parts += ["-H", shlex.quote(f"{name}: {redactor.header_value(name, value)}")]
        if self.request_body:
            parts += ["--data-raw", shlex.quote(redactor.text(self.request_body.decode("utf-8", "replace")))]
        return " ".join(parts)


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
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        self.timeout_s = timeout_s
        self.default_headers = dict(headers or {})
        self.budget = budget or RequestBudget()
        self.redactor = redactor or Redactor()
        self.max_body_bytes = max_body_bytes
        self.listeners: list[Listener] = []
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._http = httpx.Client(
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
        params: Mapping[str, str] | None = None,
        label: str = "",
        timeout_s: float | None = None,
    ) -> Exchange:
        """Send one request and return its `Exchange`; transport failures are data (`.error`), not raises."""
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
        self.redactor.add(*(p for p in presented if p))
        url = self.url(path)
        exchange = Exchange(
            method=method.upper(),
            url=url if not params else str(httpx.URL(url, params=params)),
            request_headers=send_headers,
            request_body=body,
            label=label,
            presented_credentials=tuple(p for p in presented if p),
        )
        self.budget.acquire()
        self._send(exchange, timeout_s or self.timeout_s)
        self.record(exchange)
        return exchange

    def stream_until(self, exchange: Exchange, stop: Callable[[int, bytes], bool]) -> Exchange:
        """Send `exchange`'s request and read its body only until `stop(status, received)` says so,
        then close the connection (a client cutting a stream off mid-way). Same budget, deadline,
        size cap and evidence as `request`."""

        def read_until_stop(response: httpx.Response, deadline: float) -> tuple[bytes, bool]:
            received = bytearray()
            for chunk in response.iter_raw():
                received += chunk
                if len(received) >= self.max_body_bytes:
                    return bytes(received[: self.max_body_bytes]), True
                if stop(response.status_code, bytes(received)):
                    break
            return bytes(received), False

        self.budget.acquire()
        self._send(exchange, self.timeout_s, read_until_stop)  # closing the response is the cut
        self.record(exchange)
        return exchange

    def _send(self, exchange: Exchange, timeout_s: float,
              read: Callable[[httpx.Response, float], tuple[bytes, bool]] | None = None) -> None:
        """Fill `exchange` with the answer; `read(response, deadline)` reads the body (default: all
        of it, capped)."""
        read = read or (lambda response, deadline: read_capped(response, self.max_body_bytes, deadline))
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
        except DeadlineExceeded:
            exchange.error = f"timed out: the response body took longer than {timeout_s:g} s"
        finally:
            exchange.elapsed_s = time.monotonic() - started

    def record(self, exchange: Exchange) -> None:
        """Keep an exchange sent by other means (the SDK, a WebSocket handshake) as evidence, and
        show it to the listeners (the whole-run observer), like every request of this client."""
        with self._lock:
            self.exchanges.append(exchange)
        for listener in list(self.listeners):
            listener(exchange)


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
