"""`gateway-conformance`: the suite from an installed wheel, without knowing pytest's flags.

`gateway-conformance --target URL …` and `gateway-conformance run --target URL …` are the same
pytest run as `pytest --pyargs conformance.suite --target URL …`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from conformance import __version__
from conformance.errors import ConformanceError

SUBCOMMANDS = ("run", "reference", "provider", "init", "profiles", "requirements", "render", "diff", "gate",
               "certify", "verify", "replay", "registry")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-V", "--version"):
        print(f"gateway-conformance {__version__}")
        return 0
    if not args or args[0] not in (*SUBCOMMANDS, "-h", "--help"):
        return run(args)
    if args[0] == "run":
        return run(args[1:])
    if args[0] == "certify":  # its own options, then the run's (`certify --help` shows its own)
        from conformance.certify.bundle import certify

        try:
            return certify(args[1:])
        except ConformanceError as exc:
            print(f"gateway-conformance: {exc}", file=sys.stderr)
            return 2
    parser = _parser()
    ns = parser.parse_args(args)
    try:
        return int(ns.func(ns) or 0)
    except BrokenPipeError:  # `gateway-conformance requirements | head`
        return 0
    except ConformanceError as exc:
        print(f"gateway-conformance: {exc}", file=sys.stderr)
        return 2


def run(pytest_args: list[str]) -> int:
    """The conformance run: pytest on the shipped suite with the same options."""
    from conformance.launch import run as launch

    return launch(pytest_args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway-conformance",
        description="Conformance suite for LLM API gateways. `gateway-conformance [run] --target URL …` runs it "
        "(any pytest option works); the subcommands below help around it.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="run the suite (same options as pytest with the plugin)")

    ref = sub.add_parser("reference", help="serve the bundled reference gateway")
    ref.add_argument("--profile", default="pyai", help="the contract it keeps: pyai, mindproxy or a profile file (default: pyai)")
    ref.add_argument("--host", default="127.0.0.1", help="127.0.0.1, ::1 or localhost (loopback only)")
    ref.add_argument("--port", type=int, default=8080, help="TCP port (default 8080; 0 picks a free one)")
    ref.add_argument("--write-config", metavar="PATH", help="write its target config (credentials for every role) here")
    ref.add_argument("--defect", action="append", default=[], metavar="NAME", help="switch a defect on")
    ref.add_argument("--variant", action="append", default=[], metavar="NAME",
                     help="switch a clean variant on (repeatable; 'all': every variant of the profile)")
    ref.add_argument("--no-provider", action="store_true",
                     help="answer every model itself (by default a fault-injecting provider runs beside it, for UPS)")
    ref.set_defaults(func=_reference)

    prov = sub.add_parser("provider", help="serve the fault-injecting provider (route your gateway's models to it)")
    prov.add_argument("--host", default="127.0.0.1", help="127.0.0.1, ::1 or localhost (loopback only)")
    prov.add_argument("--port", type=int, default=8090, help="TCP port (default 8090; 0 picks a free one)")
    prov.add_argument("--write-config", metavar="PATH",
                      help="write the target config's `provider` section here (paste it into your target.yaml)")
    prov.set_defaults(func=_provider)

    init = sub.add_parser("init", help="print a commented target.yaml template")
    init.add_argument("--profile", default="pyai",
                      help="the profile whose roles and sections it lists: pyai, mindproxy or a profile file (default: pyai)")
    init.set_defaults(func=_init)

    profiles = sub.add_parser("profiles", help="list the shipped profiles")
    profiles.add_argument("--json", action="store_true", help="print them as JSON")
    profiles.set_defaults(func=_profiles)

    reqs = sub.add_parser("requirements", help="list the requirements")
    reqs.add_argument("--json", action="store_true", help="print them as JSON")
    reqs.add_argument("--profile", default=None, help="only those that apply to this profile")
    reqs.set_defaults(func=_requirements)

    from conformance.report.cli import add_report_commands

    add_report_commands(sub)
    from conformance.certify.commands import add_certify_commands

    add_certify_commands(sub)
    from conformance.registry.commands import add_registry_commands

    add_registry_commands(sub)
    return parser


def _reference(ns: argparse.Namespace) -> int:
    from conformance.reference.__main__ import main as reference_main

    argv = ["--profile", ns.profile, "--host", ns.host, "--port", str(ns.port)]
    if ns.write_config:
        argv += ["--write-config", ns.write_config]
    for defect in ns.defect:
        argv += ["--defect", defect]
    for variant in ns.variant:
        argv += ["--variant", variant]
    if not ns.no_provider:
        argv += ["--provider", "auto"]
    return int(reference_main(argv) or 0)


def _provider(ns: argparse.Namespace) -> int:
    from conformance.provider.__main__ import main as provider_main

    argv = ["--host", ns.host, "--port", str(ns.port)]
    if ns.write_config:
        argv += ["--write-config", ns.write_config]
    return int(provider_main(argv) or 0)


def _init(ns: argparse.Namespace) -> int:
    from conformance.contract.templates import target_config_template

    print(target_config_template(ns.profile), end="")
    return 0


def _profiles(ns: argparse.Namespace) -> int:
    from conformance.contract.profiles import load_profile, shipped_profiles

    rows = []
    for name in shipped_profiles():
        profile = load_profile(name)
        rows.append({"id": profile.id, "version": profile.version, "title": profile.title,
                     "codes": [c.code for c in profile.codes], "sha256": profile.sha256})
    if ns.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(f"{row['id']:<12} {row['version']:<8} {row['title']}")
    return 0


def _requirements(ns: argparse.Namespace) -> int:
    from conformance.contract.profiles import load_profile
    from conformance.contract.requirements import registry

    profile = load_profile(ns.profile) if ns.profile else None
    rows = []
    for r in registry().values():
        if profile is not None and not r.applies_to(profile):
            continue
        row: dict[str, Any] = {"id": r.id, "title": r.title, "scope": r.scope, "covered": not r.planned}
        if profile is not None:
            basis = r.basis(profile.id)
            row.update(level=basis.level, basis=basis.to_dict())
        else:
            row["levels"] = {pid: b.level for pid, b in r.bases.items()}
        rows.append(row)
    if ns.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            if profile is not None:
                print(f"{row['id']:<6} {row['level']:<7} {row['basis']['kind']:<9} {row['scope']:<11} {row['title']}")
            else:
                levels = " ".join(f"{p}:{lv}" for p, lv in row["levels"].items())
                print(f"{row['id']:<6} {levels:<28} {row['scope']:<11} {row['title']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
