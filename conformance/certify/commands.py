"""The certificate subcommands of `gateway-conformance`: certify, verify, replay.

Kept apart from cli.py (like the report and registry commands) so the CLI stays a table of contents.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_certify_commands(sub: Any) -> None:
    sub.add_parser("certify", add_help=False,
                             help="run the suite and write a certificate bundle: certify [run options] --out DIR "
                                  "[--product-name …] (see `certify --help`)")

    verify = sub.add_parser("verify", help="check a certificate bundle: manifest, schemas, the verdict recomputed, "
                                           "the evidence re-checked, no credentials (exit 1 on any problem)")
    verify.add_argument("bundle", metavar="DIR")
    verify.set_defaults(func=_verify)

    replay = sub.add_parser("replay", help="resend one requirement's recorded exchanges against a gateway and judge "
                                           "them (exit 0 passed, 1 failed, 3 inconclusive)")
    replay.add_argument("bundle", metavar="DIR")
    replay.add_argument("--requirement", required=True, metavar="ID",
                        help="the requirement whose exchanges to resend (e.g. MAP-3)")
    replay.add_argument("--test", metavar="NODEID", help="only the exchanges of this test")
    replay.add_argument("--target", required=True, metavar="URL", help="the gateway to resend them to")
    replay.add_argument("--target-config", metavar="PATH",
                        help="its target config: the credentials of the roles the recorded exchanges used")
    replay.set_defaults(func=_replay)


def _verify(ns: argparse.Namespace) -> int:
    from conformance.certify.verify import main

    return main(ns.bundle)


def _replay(ns: argparse.Namespace) -> int:
    from conformance.certify.replay import replay

    return replay(ns.bundle, ns.requirement, ns.target, ns.target_config, ns.test)
