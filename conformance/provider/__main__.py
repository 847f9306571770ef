"""`python -m conformance.provider` / `gateway-conformance provider`: run the fault-injecting provider.

    python -m conformance.provider [--host 127.0.0.1] [--port 0] [--write-config PATH] [--exit-on-stdin-eof]

The provider key the gateway must present comes from the environment variable GWC_PROVIDER_KEY
(never argv, which `ps` shows); unset, any key is accepted. A bad host or port is one line on
stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from conformance.errors import ConformanceError
from conformance.servers.command_line import exit_status


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m conformance.provider",
                                     description="The gateway-conformance fault-injecting provider (loopback only).")
    parser.add_argument("--host", default="127.0.0.1", help="127.0.0.1, ::1 or localhost")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--write-config", type=Path, metavar="PATH",
                        help="write the target config's `provider` section here before READY")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when stdin closes (parent gone)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def start() -> None:
        if not 0 <= args.port <= 65535:
            raise ConformanceError(f"--port {args.port} is not a TCP port (0-65535)")
        from conformance.provider.startup import serve
        from conformance.servers.provider_link import KEY_ENV

        serve(host=args.host, port=args.port, api_key=os.environ.get(KEY_ENV) or None,
              config_path=args.write_config, exit_on_stdin_eof=args.exit_on_stdin_eof)

    return exit_status("provider", start)


if __name__ == "__main__":
    sys.exit(main())
