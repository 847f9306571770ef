"""`python -m conformance.reference`: run the reference gateway (see `startup.py` for the start-up order).

    python -m conformance.reference --profile pyai|mindproxy|PATH [--host 127.0.0.1] [--port 0]
        [--write-config PATH] [--defect NAME ...] [--variant NAME|all ...] [--exit-on-stdin-eof]

`GWC_REFERENCE_DEFECTS=a,b` switches defects on as well, `GWC_REFERENCE_VARIANTS=a,b` clean variants
(`conformance/data/variants.yaml`). A bad profile, defect or host is one line
on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from conformance.errors import ConformanceError
from conformance.servers.command_line import exit_status

# The realtime handshake is parsed by the `websockets` library, which refuses a request line over
# 8 KiB with its own text/plain 414 before the gateway sees the agent_id; a gateway that forwards
# agent ids as header values refuses a too-long one itself (400 invalid_agent_id), so the line may
# be as long as the suite's longest probe (scenarios.realtime.PAST_EVERY_HEADER_LIMIT).
os.environ.setdefault("WEBSOCKETS_MAX_LINE_LENGTH", str(128 * 1024))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.reference",
        description="The gateway-conformance reference gateway (loopback only).",
    )
    parser.add_argument("--profile", default="pyai", help="shipped profile id (pyai, mindproxy) or a profile file")
    parser.add_argument("--host", default="127.0.0.1", help="127.0.0.1, ::1 or localhost")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--write-config", type=Path, metavar="PATH", help="write the target config YAML here before READY")
    parser.add_argument("--defect", action="append", default=[], metavar="NAME", help="switch a defect on (repeatable)")
    parser.add_argument("--provider", metavar="URL",
                        help="provider mode: forward gwc-ok / gwc-fault/* to this fault-injecting provider "
                             "(the key it expects comes from GWC_PROVIDER_KEY); 'auto' starts one beside the gateway")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME",
                        help="switch a clean variant on (repeatable; 'all' = every variant of the profile)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when stdin closes (parent gone)")
    return parser.parse_args(argv)


def _loopback_provider(url: str | None) -> str | None:
    """The provider URL, which like the gateway itself must be on loopback."""
    if url is None:
        return None
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    if not url.startswith("http://") or host not in ("127.0.0.1", "::1", "localhost"):
        raise ConformanceError(f"--provider {url!r}: the provider must be an http:// URL on loopback")
    return url


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def start() -> None:
        # Imported here so `--help` and argument errors stay instant.
        from conformance.contract.profiles import load_profile
        from conformance.reference.defects import names_from_env
        from conformance.reference.startup import serve
        from conformance.reference.variants import names_from_env as variant_names_from_env
        from conformance.servers.provider_link import KEY_ENV

        if not 0 <= args.port <= 65535:
            raise ConformanceError(f"--port {args.port} is not a TCP port (0-65535)")
        profile = load_profile(args.profile)
        provider_url, provider_key = args.provider, os.environ.get(KEY_ENV) or None
        if provider_url == "auto":
            import atexit

            from conformance.servers.provider_link import ProviderProcess

            child = ProviderProcess(host=args.host).start()  # exits with us: its stdin is our pipe
            atexit.register(child.stop)
            provider_url, provider_key = child.url, child.api_key
        serve(
            profile,
            [*args.defect, *names_from_env()],
            host=args.host,
            port=args.port,
            config_path=args.write_config,
            exit_on_stdin_eof=args.exit_on_stdin_eof,
            provider_url=_loopback_provider(provider_url),
            provider_key=provider_key,
            variant_names=[*args.variant, *variant_names_from_env()],
        )

    return exit_status("reference gateway", start)

if __name__ == "__main__":
    sys.exit(main())
