"""`python -m conformance.reference`: run the reference gateway (see `serve.py` for the start-up order).

    python -m conformance.reference --profile pyai|mindproxy|PATH [--host 127.0.0.1] [--port 0]
        [--write-config PATH] [--defect NAME ...] [--variant NAME|all ...] [--exit-on-stdin-eof]

`GWC_REFERENCE_DEFECTS=a,b` switches defects on as well, `GWC_REFERENCE_VARIANTS=a,b` clean variants
(`conformance/data/variants.yaml`). A bad profile, defect or host is one line
on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from conformance.errors import ConformanceError


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
    parser.add_argument("--variant", action="append", default=[], metavar="NAME",
                        help="switch a clean variant on (repeatable; 'all' = every variant of the profile)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when stdin closes (parent gone)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        # Imported here so `--help` and argument errors stay instant.
        from conformance.contract.profiles import load_profile
        from conformance.reference.defects import names_from_env
        from conformance.reference.serve import serve
        from conformance.reference.variants import names_from_env as variant_names_from_env

        if not 0 <= args.port <= 65535:
            raise ConformanceError(f"--port {args.port} is not a TCP port (0-65535)")
        profile = load_profile(args.profile)
        serve(
            profile,
            [*args.defect, *names_from_env()],
            host=args.host,
            port=args.port,
            config_path=args.write_config,
            exit_on_stdin_eof=args.exit_on_stdin_eof,
            variant_names=[*args.variant, *variant_names_from_env()],
        )
    except ConformanceError as exc:
        print(f"reference gateway: {exc}", file=sys.stderr, flush=True)
        return 2
    except OSError as exc:  # e.g. the config path is not writable
        print(f"reference gateway: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
