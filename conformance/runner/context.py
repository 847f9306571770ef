"""Everything one conformance session knows, resolved once on the controller.

Options beat the target config, which beats environment defaults. Under xdist the controller
resolves (and starts the reference gateway) and hands workers this context as plain data, so
every worker talks to the same gateway with the same credentials.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from conformance.contract.claims import Claims, resolve_claims
from conformance.contract.profiles import Profile, load_profile, resolve_profile_path
from conformance.contract.target_config import TargetConfig, load_config
from conformance.errors import ConformanceError
from conformance.runner.options import DEFAULT_FUZZ_EXAMPLES, DEFAULT_GATHER_CONCURRENCY

REFERENCE = "reference"
DEFAULT_PROFILE = "pyai"


def check_target_url(url: str) -> str:
    from conformance.contract.url_credentials import credential_problem, safe_url

    problem = credential_problem(url, "--target", any_query=True)
    if problem:  # before anything echoes the URL
        raise ConformanceError(problem)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConformanceError(
            f"--target {url!r} is not a URL: give http(s)://host[:port][/v1] or 'reference'"
        )
    try:
        _ = parts.port  # urlsplit validates the port only when it is read
    except ValueError:
        raise ConformanceError(f"--target {safe_url(url)!r} has an invalid port") from None
    return url


@dataclass
class RunContext:
    target_url: str
    reference: bool
    profile_path: str
    config_ref: str | None
    level: str = "all"
    max_requests: int | None = None
    max_rps: float | None = None
    allow_billable: bool = False
    require_practice: bool = False  # practice MUSTs join the exit rule (never the verdict)
    report_path: str | None = None
    defects: list[str] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)  # clean variants of the reference gateway
    workers: int = 1
    fuzz_examples: int = DEFAULT_FUZZ_EXAMPLES
    fuzz_seed: int | None = None
    declared_claims: list[str] | None = None  # the user's target config `claims:` (None: not listed)
    gather_concurrency: int = DEFAULT_GATHER_CONCURRENCY
    extra: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def profile(self) -> Profile:
        return load_profile(self.profile_path)

    @cached_property
    def config(self) -> TargetConfig:
        return load_config(self.config_ref)

    @cached_property
    def claims(self) -> Claims:
        """The scopes this run certifies (the target config's `claims:`, else all the profile has)."""
        declared = self.declared_claims if self.declared_claims is not None else self.config.claims
        return resolve_claims(declared, self.profile)

    @property
    def billable_allowed(self) -> bool:
        return self.reference or self.allow_billable

    def to_workerinput(self) -> dict[str, Any]:
        data = asdict(self)
        return data

    @classmethod
    def from_workerinput(cls, data: dict[str, Any]) -> RunContext:
        return cls(**data)

    def per_worker(self, workers: int) -> RunContext:
        """The share of the budget and rate one of `workers` processes may use."""
        share = RunContext.from_workerinput(self.to_workerinput())
        share.workers = workers
        if self.max_requests is not None:
            share.max_requests = max(1, -(-self.max_requests // workers))
        if self.max_rps is not None:
            share.max_rps = self.max_rps / workers
        return share


def resolve(options: Any, env: dict[str, str] | None = None) -> tuple[RunContext, TargetConfig | None]:
    """Options + env + target config → a RunContext (the reference gateway is started by the caller)."""
    env = dict(os.environ) if env is None else env
    config_ref = _opt(options, "conformance_target_config") or env.get("GWC_TARGET_CONFIG") or None
    user_config = load_config(config_ref) if config_ref else None
    target = _opt(options, "conformance_target") or env.get("GWC_TARGET") or (user_config.target if user_config else None) or REFERENCE
    profile_ref = _opt(options, "conformance_profile") or (user_config.profile if user_config else None) or DEFAULT_PROFILE
    profile_path = str(resolve_profile_path(profile_ref).resolve())
    load_profile(profile_path)  # a bad profile stops the run now, in one line
    reference = target == REFERENCE
    if not reference:
        check_target_url(target)
    limits = user_config.limits if user_config else None
    level = _opt(options, "conformance_level") or "all"
    if level not in ("must", "should", "all"):
        raise ConformanceError(f"--level {level!r}: give must, should or all")
    _positive("--max-requests", _opt(options, "conformance_max_requests"), "a positive whole number of requests")
    _positive("--max-rps", _opt(options, "conformance_max_rps"), "a positive number of requests per second")
    context = RunContext(
        target_url=target,
        reference=reference,
        profile_path=profile_path,
        config_ref=config_ref,
        level=level,
        max_requests=_opt(options, "conformance_max_requests") if _opt(options, "conformance_max_requests") is not None else (limits.max_requests if limits else None),
        max_rps=_opt(options, "conformance_max_rps") if _opt(options, "conformance_max_rps") is not None else (limits.max_rps if limits else None),
        allow_billable=bool(_opt(options, "conformance_allow_billable") or (limits.allow_billable if limits else False)),
        require_practice=bool(_opt(options, "conformance_require_practice")),
        report_path=_opt(options, "conformance_report"),
        defects=list(_opt(options, "conformance_reference_defects") or []),
        variants=list(_opt(options, "conformance_reference_variants") or []),
        fuzz_examples=_fuzz_examples(getattr(options, "conformance_fuzz_examples", None)),
        fuzz_seed=_seed(getattr(options, "hypothesis_seed", None)),
        declared_claims=user_config.claims if user_config else None,
        gather_concurrency=_gather_concurrency(getattr(options, "conformance_gather_concurrency", None)),
    )
    return context, user_config


def _opt(options: Any, name: str) -> Any:
    """An option's value; None when another plugin owns all of its names in this run."""
    value = getattr(options, name, "all" if name == "conformance_level" else None)
    if value == "\x00no value":  # conformance.runner.options.NO_VALUE
        flag = "--" + name.removeprefix("conformance_").replace("_", "-")
        raise ConformanceError(f"{flag} needs a value")
    return value


def _positive(option: str, value: float | None, what: str) -> None:
    """`--max-requests 0` would skip every test and `--max-rps 0` would wait forever: refuse both."""
    if value is not None and not value > 0:
        raise ConformanceError(f"{option} {value:g}: give {what} (leave it out for no limit)")


def _count(option: str, value: int | None, *, default: int, least: int, what: str) -> int:
    """A whole-number option: its default when not given, refused in one line below `least`."""
    if value is None:
        return default
    if value < least:
        raise ConformanceError(f"{option} {value}: give {what}")
    return value


def _fuzz_examples(value: int | None) -> int:
    return _count("--fuzz-examples", value, default=DEFAULT_FUZZ_EXAMPLES, least=0,
                  what="0 (no fuzzing) or a positive number")


def _gather_concurrency(value: int | None) -> int:
    return _count("--gather-concurrency", value, default=DEFAULT_GATHER_CONCURRENCY, least=1,
                  what="1 (one request at a time) or more")


def _seed(value: Any) -> int | None:
    """`--hypothesis-seed` (hypothesis's own option) as an int; any text is hashed to one, as hypothesis does."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        import zlib

        return zlib.crc32(str(value).encode())
