"""Run one provider in this process: bind loopback, write its config fragment, serve, say READY.

Same start-up contract as the reference gateway (`conformance.reference.serve`): the socket is
bound first (port 0 → a free port), the config fragment is written atomically, and once uvicorn
accepts connections exactly one line `READY <url>` goes to stdout. The fragment is the target
config's `provider` section for a gateway routed to this provider.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn

from conformance.errors import ConfigError
from conformance.provider.app import create_app
from conformance.serving import ReadyServer, watch_stdin

LOOPBACK_HOSTS = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "::1": "::1"}
KEY_ENV = "GWC_PROVIDER_KEY"


def loopback_address(host: str) -> str:
    """The address to bind for `host`; anything but loopback is refused (the provider is a test fixture)."""
    address = LOOPBACK_HOSTS.get(host.strip().strip("[]").lower())
    if address is None:
        raise ConfigError(f"refusing to serve on {host!r}: the provider binds loopback only (127.0.0.1, ::1, localhost)")
    return address


def bind(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot bind {address} port {port}: {exc.strerror or exc}") from None
    sock.listen(1024)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def provider_section(url: str, api_key: str | None) -> dict[str, Any]:
    """The target config's `provider` section for a gateway routed to the provider at `url`."""
    section: dict[str, Any] = {"records_url": url, "internal_address": url.split("://", 1)[1]}
    if api_key:
        section["api_key"] = api_key
    return section


def write_section(path: Path, section: dict[str, Any]) -> None:
    import yaml

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        yaml.safe_dump({"provider": section}, handle, sort_keys=False, default_flow_style=False)
    os.replace(tmp, path)


def serve(*, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None, config_path: Path | None = None,
          exit_on_stdin_eof: bool = False) -> None:
    """Serve until interrupted; start-up problems raise `ConfigError` before anything is printed."""
    sock = bind(loopback_address(host), port)
    url = base_url(sock)
    if config_path is not None:
        # A person pastes this section into a target.yaml: the key stays in the environment (as the
        # README shows); a parent process (`--exit-on-stdin-eof`) reads the literal back instead.
        shown_key = api_key if exit_on_stdin_eof or not api_key else "${" + KEY_ENV + "}"
        write_section(config_path, provider_section(url, shown_key))
    config = uvicorn.Config(create_app(api_key), log_level="critical", access_log=False, lifespan="off",
                            server_header=False, http="h11", timeout_graceful_shutdown=1)

    def ready() -> None:
        sys.stdout.write(f"READY {url}\n")
        sys.stdout.flush()
        if not exit_on_stdin_eof:  # a person started it: say what to do next (the reference does too)
            key = f"the key in ${KEY_ENV}" if api_key else f"any key (set {KEY_ENV} to require one)"
            section = (f"paste the `provider:` section of {config_path} into your target.yaml" if config_path is not None
                       else "add `provider: {records_url: " + url + "}` to your target.yaml (or restart with --write-config PATH)")
            sys.stderr.write(f"provider serving {url}: route your gateway's models to {url}/v1 with {key}; {section}; "
                             "then run: gateway-conformance run --target YOUR_GATEWAY --target-config target.yaml   "
                             "(Ctrl-C stops it)\n")
            sys.stderr.flush()

    if exit_on_stdin_eof:
        watch_stdin()
    ReadyServer(config, ready).run(sockets=[sock])
