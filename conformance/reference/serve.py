"""Run one reference gateway in this process: bind, provision, write the config, serve, say READY.

The order is the contract with `ReferenceProcess` (and with the pytest plugin): the socket is
bound first (port 0 → a free port, no race between choosing and binding), the target config is
written atomically, and only once uvicorn accepts connections is exactly one line
`READY <url>` printed on stdout. With `exit_on_stdin_eof` the process dies when its parent
closes our stdin, so a killed test run never leaves a gateway behind.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import h11
import uvicorn
import yaml
from uvicorn.protocols.http.h11_impl import H11Protocol

from conformance.contract.profiles import Profile, shipped_profiles
from conformance.errors import ConfigError
from conformance.reference.app import Gateway, create_app
from conformance.reference.defects import Defects
from conformance.reference.dialect import Dialect
from conformance.reference.ledger import Ledger
from conformance.reference.middleware import new_request_id
from conformance.reference.provision import provider_role, provision
from conformance.reference.tasks import task_config
from conformance.reference.variants import Variants
from conformance.serving import ReadyServer, watch_stdin

LOOPBACK_HOSTS = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "::1": "::1"}

DAILY_RESET_SOON_S = 55  # under a minute: the SDK honours a Retry-After of up to 60 s


def loopback_address(host: str) -> str:
    """The address to bind for `host`; anything but loopback is refused (the gateway is a test fixture)."""
    address = LOOPBACK_HOSTS.get(host.strip().strip("[]").lower())
    if address is None:
        raise ConfigError(f"refusing to serve on {host!r}: the reference gateway binds loopback only (127.0.0.1, ::1, localhost)")
    return address


def bind(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot bind {address} port {port}: {exc.strerror or exc}") from None
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def profile_reference(profile: Profile) -> str:
    """What the config's `profile:` says: the shipped id, or the file's absolute path."""
    shipped = shipped_profiles().get(profile.id)
    if shipped is not None and shipped.resolve() == profile.path.resolve():
        return profile.id
    return str(profile.path.resolve())


def write_config(path: Path, config: dict[str, Any]) -> None:
    """Atomically, owner-only: the file holds live keys, and a reader must never see half of it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        os.unlink(tmp)  # a leftover of a crashed run; O_EXCL below never follows a planted link
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle, sort_keys=False, default_flow_style=False)
    os.replace(tmp, path)


def json_400_protocol(dialect: Dialect) -> type[H11Protocol]:
    """uvicorn's HTTP/1.1 protocol, but a request it cannot parse gets the profile's JSON envelope.

    uvicorn answers unparseable requests (oversized headers, bad bytes) with `text/plain`, which
    a fuzzer reaching that path would rightly count against ENV-1 / FUZ-1.
    """
    header = dialect.profile.request_id_header.lower().encode("latin-1")

    class EnvelopeH11Protocol(H11Protocol):
        def send_400_response(self, msg: str) -> None:
            body = dialect.body(400, dialect.open_code("bad_http"), "The HTTP request could not be parsed.")
            data = json.dumps(body, separators=(",", ":")).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"connection", b"close"),
                (header, new_request_id().encode()),
            ]
            self.transport.write(self.conn.send(h11.Response(status_code=400, headers=headers, reason=b"Bad Request")))
            self.transport.write(self.conn.send(h11.Data(data=data)))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
            self.transport.close()

    return EnvelopeH11Protocol


def serve(
    profile: Profile,
    defect_names: Sequence[str] = (),
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    config_path: Path | None = None,
    exit_on_stdin_eof: bool = False,
    provider_url: str | None = None,
    provider_key: str | None = None,
    variant_names: Sequence[str] = (),
) -> None:
    """Serve until interrupted. Start-up problems raise `ConfigError` before anything is printed."""
    defects = Defects(defect_names, profile.id)
    variants = Variants(variant_names, profile.id)
    sock = bind(loopback_address(host), port)
    url = base_url(sock)
    ledger = Ledger()
    # The daily_cap_resets_soon variant: a gateway started in the last minute before its daily reset.
    daily_reset_at = (datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=DAILY_RESET_SOON_S)
                      if variants.on("daily_cap_resets_soon") else None)
    config = provision(ledger, url, profile_reference(profile), management=profile.has_management,
                       realtime=any(c.plane == "realtime" for c in profile.codes), variants=variants,
                       daily_reset_at=daily_reset_at)
    if profile.has_tasks:
        config["tasks"] = task_config(config["model"])
    upstream = None
    if provider_url is not None:
        from conformance.provider.serve import provider_section
        from conformance.reference.upstream import PROVIDER_FORBIDDEN_MODEL, Upstream

        upstream = Upstream(provider_url, provider_key)
        config["provider"] = provider_section(provider_url.rstrip("/"), provider_key)
        config["roles"]["upstream"] = provider_role(ledger, variants)  # UPS charges stay off `valid`'s spend (FUZ-3)
        config["provider"]["role"] = "upstream"
        # UPS-5's restricted case: a model the restricted role may not use that does reach the provider
        # (its own forbidden_model, ref-large, the reference answers itself).
        config["provider"]["models"] = {"restricted": PROVIDER_FORBIDDEN_MODEL}
    if config_path is not None:
        write_config(config_path, config)
    app = create_app(Gateway(profile, defects, ledger, variants=variants, daily_reset_at=daily_reset_at, upstream=upstream))
    uv_config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        http=json_400_protocol(app.state.gateway.dialect),
    )

    def ready() -> None:
        sys.stdout.write(f"READY {url}\n")
        sys.stdout.flush()
        if not exit_on_stdin_eof:  # a person started it (a parent process reads only READY): say what to do next
            config_hint = f" --target-config {config_path}" if config_path is not None else \
                " --target-config PATH (start it with --write-config PATH for one)"
            sys.stderr.write(f"reference gateway ({profile.id}) serving {url}; in another shell run: "
                             f"gateway-conformance run --target {url}{config_hint} --profile {profile.id}   (Ctrl-C stops it)\n")
            sys.stderr.flush()

    if exit_on_stdin_eof:
        watch_stdin()
    logging.getLogger("uvicorn.error").addFilter(_DenialIsAHandshake())
    ReadyServer(uv_config, ready).run(sockets=[sock])


class _DenialIsAHandshake(logging.Filter):
    """The realtime route refuses some upgrades on purpose with an HTTP answer (the ASGI denial
    response); uvicorn's WebSocket protocols still log each one as an ASGI error ("returned without
    completing handshake"), ~80 lines per run. Those lines say nothing true: drop them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing handshake" not in record.getMessage()
