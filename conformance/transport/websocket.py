"""Realtime (WebSocket) handshakes, recorded as `Exchange`s like every HTTP request.

A realtime gateway reports `invalid_agent_id` and `concurrency_limit_exceeded` as the HTTP answer
to the upgrade request, before any WebSocket exists. Recording that answer as an `Exchange` lets
the envelope, header, redaction and evidence code judge it like any other error; each handshake
counts against the run's request budget. Sessions the suite opens are always closed by the
caller's `finally` (a hostile target must not keep our sockets, and a real one must get its
session slots back).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.exceptions import InvalidHandshake, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from conformance.transport.client import MAX_BODY_BYTES, Exchange, GatewayClient
from conformance.transport.uri_template import expand


@dataclass
class Handshake:
    """One upgrade attempt: its exchange, and the open session when the gateway accepted it."""

    exchange: Exchange
    connection: ClientConnection | None = None

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except (WebSocketException, OSError):
                pass
            self.connection = None


class RealtimeClient:
    """Opens handshakes on the target config's realtime URL with the run's budget and redactor."""

    def __init__(self, client: GatewayClient, url_template: str, headers: dict[str, str] | None = None) -> None:
        self.client = client
        self.url_template = url_template
        self.headers = dict(headers or {})
        self.open_sessions: list[Handshake] = []

    def url(self, agent_id: str) -> str:
        return expand(self.url_template, {"agent_id": agent_id})

    def handshake(self, agent_id: str, api_key: str | None, *, label: str) -> Handshake:
        """Try one upgrade; a refusal is data (`.exchange.status`), never a raise."""
        headers = dict(self.headers)
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
            self.client.redactor.add(api_key)
        exchange = Exchange(
            method="GET", url=self.url(agent_id), request_headers=headers, request_body=None, label=label,
            presented_credentials=(api_key,) if api_key else (),
        )
        self.client.budget.acquire()
        started = time.monotonic()
        handshake = Handshake(exchange)
        try:
            connection = _connect_without_redirects(
                exchange.url, headers, self.client.timeout_s, self.client.max_body_bytes)
        except InvalidStatus as exc:
            _fill(exchange, exc.response.status_code, exc.response.headers.raw_items(), exc.response.body or b"")
        except TimeoutError:
            exchange.error = f"timed out: no handshake answer within {self.client.timeout_s:g} s"
        except (InvalidHandshake, WebSocketException) as exc:
            exchange.error = f"not a valid WebSocket handshake answer: {exc}"
        except OSError as exc:
            exchange.error = f"cannot connect: {exc.strerror or exc}"
        else:
            response = connection.response
            assert response is not None
            _fill(exchange, response.status_code, response.headers.raw_items(), b"")
            handshake.connection = connection
            self.open_sessions.append(handshake)
        exchange.elapsed_s = time.monotonic() - started
        self.client.record(exchange)
        return handshake

    def close_all(self) -> None:
        while self.open_sessions:
            self.open_sessions.pop().close()


def _connect_without_redirects(
    url: str, headers: dict[str, str], timeout_s: float, max_body_bytes: int,
) -> ClientConnection:
    """`websockets` follows redirects by default; the suite never does (as for HTTP): a 3xx is the answer."""
    connecter: Any = connect(
        url, additional_headers=headers, user_agent_header="gateway-conformance", proxy=None,
        open_timeout=timeout_s, close_timeout=2, compression=None, max_size=max_body_bytes,
        legacy=False,
    )
    connecter.process_redirect = lambda exc: exc  # every refusal, 3xx included, stays an InvalidStatus
    connection: ClientConnection = connecter.connect()
    connection.pending_legacy_warning = False  # we close it ourselves, as `legacy=True` would promise
    return connection


def _fill(exchange: Exchange, status: int, raw_headers: Any, body: bytes | bytearray) -> None:
    exchange.status = status
    exchange.headers = httpx.Headers(list(raw_headers))
    exchange.body = bytes(body[:MAX_BODY_BYTES])
