"""The `gateway-conformance registry build` subcommand.

Here rather than beside the certificate commands: the registry sits above `certify` (it verifies
every bundle with `certify.verify`), so `certify` never imports it.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_registry_commands(sub: Any) -> None:
    registry = sub.add_parser("registry", help="a static site of certificates: registry build DIR… --out SITE")
    actions = registry.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="build the site from certificate bundles")
    build.add_argument("bundles", nargs="+", metavar="DIR")
    build.add_argument("--out", required=True, metavar="SITE")
    build.add_argument("--no-verify", action="store_true", help="include bundles that do not verify (marked as such)")
    build.set_defaults(func=_registry_build)


def _registry_build(ns: argparse.Namespace) -> int:
    from conformance.registry.site import build

    return build(ns.bundles, ns.out, verify_bundles=not ns.no_verify)
