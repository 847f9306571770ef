"""Run one reference gateway in this process: bind, provision, write the config, serve, say READY.

The order is the contract with `ReferenceProcess` (and with the pytest plugin), kept by
`conformance.servers.loopback`: the socket is bound first (port 0 → a free port, no race between
choosing and binding), the target config is written atomically, and only once uvicorn accepts
connections is exactly one line `READY <url>` printed on stdout. With `exit_on_stdin_eof` the
process dies when its parent closes our stdin, so a killed test run never leaves a gateway behind.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from conformance.contract.profiles import Profile, shipped_profiles
from conformance.reference.app import create_app
from conformance.reference.defects import Defects
from conformance.reference.dialect import Dialect
from conformance.reference.ledger import Ledger
from conformance.reference.middleware import new_request_id
from conformance.reference.provision import provider_role, provision
from conformance.reference.tasks import task_config
from conformance.reference.variants import Variants
from conformance.servers import loopback
from conformance.servers.provider_link import provider_section

DAILY_RESET_SOON_S = 55  # under a minute: the SDK honours a Retry-After of up to 60 s


def profile_reference(profile: Profile) -> str:
    """What the config's `profile:` says: the shipped id, or the file's absolute path."""
    shipped = shipped_profiles().get(profile.id)
    if shipped is not None and shipped.resolve() == profile.path.resolve():
        return profile.id
    return str(profile.path.resolve())


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
    sock = loopback.bind(loopback.address(host, "reference gateway"), port)
    url = loopback.base_url(sock)
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
        from conformance.reference.upstream import PROVIDER_FORBIDDEN_MODEL, Upstream

        upstream = Upstream(provider_url, provider_key)
        config["provider"] = provider_section(provider_url.rstrip("/"), provider_key)
        config["roles"]["upstream"] = provider_role(ledger, variants)  # UPS charges stay off `valid`'s spend (FUZ-3)
        config["provider"]["role"] = "upstream"
        # UPS-5's restricted case: a model the restricted role may not use that does reach the provider
        # (its own forbidden_model, ref-large, the reference answers itself).
        config["provider"]["models"] = {"restricted": PROVIDER_FORBIDDEN_MODEL}
    if config_path is not None:
        loopback.write_yaml(config_path, config)
    app = create_app(profile, defects, ledger, variants=variants, daily_reset_at=daily_reset_at, upstream=upstream)
    uv_config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        http=json_400_protocol(app.state.gateway.dialect),
    )

    def ready() -> None:
        loopback.say_ready(url)
        if not exit_on_stdin_eof:  # a person started it (a parent process reads only READY): say what to do next
            config_hint = f" --target-config {config_path}" if config_path is not None else \
                " --target-config PATH (start it with --write-config PATH for one)"
            sys.stderr.write(f"reference gateway ({profile.id}) serving {url}; in another shell run: "
                             f"gateway-conformance run --target {url}{config_hint} --profile {profile.id}   (Ctrl-C stops it)\n")
            sys.stderr.flush()

    if exit_on_stdin_eof:
        loopback.watch_stdin()
    logging.getLogger("uvicorn.error").addFilter(_DenialIsAHandshake())
    loopback.ReadyServer(uv_config, ready).run(sockets=[sock])


class _DenialIsAHandshake(logging.Filter):
    """The realtime route refuses some upgrades on purpose with an HTTP answer (the ASGI denial
    response); uvicorn's WebSocket protocols still log each one as an ASGI error ("returned without
    completing handshake"), ~80 lines per run. Those lines say nothing true: drop them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing handshake" not in record.getMessage()
