"""Run one provider in this process: bind loopback, write its config fragment, serve, say READY.

Same start-up contract as the reference gateway (`conformance.servers.loopback`): the socket is
bound first (port 0 → a free port), the config fragment is written atomically, and once uvicorn
accepts connections exactly one line `READY <url>` goes to stdout. The fragment is the target
config's `provider` section for a gateway routed to this provider.
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from conformance.provider.app import create_app
from conformance.servers import loopback
from conformance.servers.provider_link import KEY_ENV, provider_section


def serve(*, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None, config_path: Path | None = None,
          exit_on_stdin_eof: bool = False) -> None:
    """Serve until interrupted; start-up problems raise `ConfigError` before anything is printed."""
    sock = loopback.bind(loopback.address(host, "provider"), port)
    url = loopback.base_url(sock)
    if config_path is not None:
        # A person pastes this section into a target.yaml: the key stays in the environment (as the
        # README shows); a parent process (`--exit-on-stdin-eof`) reads the literal back instead.
        shown_key = api_key if exit_on_stdin_eof or not api_key else "${" + KEY_ENV + "}"
        loopback.write_yaml(config_path, {"provider": provider_section(url, shown_key)})
    config = uvicorn.Config(create_app(api_key), log_level="critical", access_log=False, lifespan="off",
                            server_header=False, http="h11", timeout_graceful_shutdown=1)

    def ready() -> None:
        loopback.say_ready(url)
        if not exit_on_stdin_eof:  # a person started it: say what to do next (the reference does too)
            key = f"the key in ${KEY_ENV}" if api_key else f"any key (set {KEY_ENV} to require one)"
            section = (f"paste the `provider:` section of {config_path} into your target.yaml" if config_path is not None
                       else "add `provider: {records_url: " + url + "}` to your target.yaml (or restart with --write-config PATH)")
            sys.stderr.write(f"provider serving {url}: route your gateway's models to {url}/v1 with {key}; {section}; "
                             "then run: gateway-conformance run --target YOUR_GATEWAY --target-config target.yaml   "
                             "(Ctrl-C stops it)\n")
            sys.stderr.flush()

    if exit_on_stdin_eof:
        loopback.watch_stdin()
    loopback.ReadyServer(config, ready).run(sockets=[sock])
