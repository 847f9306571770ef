"""Failures the client must not blame on the target (issue 21: no outcome may depend on load)."""

from __future__ import annotations

import errno
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from conformance.transport.client import Exchange, GatewayClient, RequestBudget, _local_fault
from tests.hostile import read_request


def _read_error(cause: OSError) -> httpx.ReadError:
    try:
        try:
            raise cause
        except OSError as inner:
            raise httpx.ReadError(str(inner)) from inner
    except httpx.ReadError as outer:
        return outer


def test_a_bad_file_descriptor_is_this_process_fault() -> None:
    assert _local_fault(_read_error(OSError(errno.EBADF, "Bad file descriptor")))


def test_a_reset_or_refusal_is_the_targets() -> None:
    assert not _local_fault(_read_error(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")))
    assert not _local_fault(httpx.ConnectError("refused"))



def test_a_connection_closed_before_any_answer_goes_once_more() -> None:
    """A real loopback server that closes its first connection without answering, then answers:
    the client sends the request again once (both counted) and reports the answer; a server that
    always closes is still reported as a dropped request."""
    def serve(listener: socket.socket, answers: list[bool]) -> None:
        for answer in answers:
            conn, _ = listener.accept()
            with conn:
                read_request(conn)  # all of it: a close with some unread would reset, another test's case
                if answer:
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
                                 b"content-length: 2\r\nconnection: close\r\n\r\n{}")

    for answers, status in (([False, True], 400), ([False, False], None)):
        exchange, budget = _post_to(serve, answers, {})
        assert exchange.status == status, exchange
        assert budget.sent == 2, budget.sent
        if status is None:
            assert "without sending a response" in (exchange.error or ""), exchange.error


def test_a_connection_reset_before_any_answer_goes_once_more() -> None:
    """A real loopback server that resets its first connection with the request unread (what a
    server's kernel does when it closes a kept-alive connection just as the request arrives), then
    answers: sent again once; one that always resets is reported as a reset, and a reset after the
    status line is never a reason to send again."""
    def reset(conn: socket.socket) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    def serve(listener: socket.socket, answers: list[str]) -> None:
        for answer in answers:
            conn, _ = listener.accept()
            conn.recv(16)  # most of the request stays unread: the close resets
            time.sleep(0.2)  # the client waits for a status line by then (else it sees the close first: still resent)
            if answer == "reset":
                reset(conn)
                continue
            head = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n"
            conn.sendall(head + (b"" if answer == "reset-after-status" else b'{"error": "bad"}    '))
            if answer == "reset-after-status":
                reset(conn)
            else:
                conn.close()

    cases = ((["reset", "answer"], 400, 2), (["reset", "reset"], None, 2), (["reset-after-status"], 400, 1))
    for answers, status, sent in cases:
        exchange, budget = _post_to(serve, answers, {"pad": "x" * 4000})
        assert exchange.status == status, (answers, exchange)
        assert budget.sent == sent, (answers, budget.sent)
        if status is None:  # the client reads the reset, or finds the connection gone first
            error = (exchange.error or "").lower()
            assert "reset" in error or "without sending a response" in error, exchange.error


def _post_to(serve: Callable[[socket.socket, list[Any]], None], answers: list[Any],
             body: dict[str, Any]) -> tuple[Exchange, RequestBudget]:
    """One POST through `GatewayClient` to a real loopback server `serve(listener, answers)` runs:
    the exchange, and the budget that counted every send."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        thread = threading.Thread(target=serve, args=(listener, answers), daemon=True)
        thread.start()
        budget = RequestBudget(10)
        client = GatewayClient(f"http://127.0.0.1:{listener.getsockname()[1]}", budget=budget)
        exchange = client.request("POST", "/v1/chat/completions", api_key="sk-x", json=body)
        client.close()
        thread.join(5)
    return exchange, budget
