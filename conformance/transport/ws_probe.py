"""`python -m conformance.transport.ws_probe URL [-H 'name: value']…`: open one WebSocket handshake
and print the answer — the reproduce line of a realtime failure (curl cannot: `Protocol "ws" not
supported`). Prints the status line, the headers and the body of a refusal; exit 0 when the
gateway accepted the upgrade (101), 1 when it refused, 2 when it did not answer a handshake.
Redirects are not followed, as in the suite."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.transport.ws_probe", description=__doc__.split("\n")[0])
    parser.add_argument("url", help="ws:// or wss:// URL")
    parser.add_argument("-H", "--header", action="append", default=[], metavar="'NAME: VALUE'")
    parser.add_argument("--timeout", type=float, default=10.0)
    ns = parser.parse_args(argv)
    from websockets.exceptions import InvalidHandshake, InvalidStatus, WebSocketException

    from conformance.transport.client import MAX_BODY_BYTES
    from conformance.transport.websocket import _connect_without_redirects

    headers = dict(tuple(part.strip() for part in h.split(":", 1)) for h in ns.header if ":" in h)
    try:  # the suite's own handshake (no redirects followed, same limits)
        connection = _connect_without_redirects(ns.url, headers, ns.timeout, MAX_BODY_BYTES)
    except InvalidStatus as exc:
        response = exc.response
        print(f"HTTP/1.1 {response.status_code} {response.reason_phrase}")
        for name, value in response.headers.raw_items():
            print(f"{name}: {value}")
        print()
        print((response.body or b"").decode("utf-8", "replace"))
        return 1
    except (InvalidHandshake, WebSocketException, OSError, TimeoutError) as exc:
        print(f"no handshake answer: {exc}", file=sys.stderr)
        return 2
    with connection:
        accepted = connection.response
        assert accepted is not None  # connect() returns only once the handshake was answered
        print(f"HTTP/1.1 {accepted.status_code} {accepted.reason_phrase} (upgrade accepted)")
        for name, value in accepted.headers.raw_items():
            print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
