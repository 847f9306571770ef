"""Every use of another library's private API, in one place.

Why quarantine them: a private name can move in any release. Kept here, each one is named in
`PRIVATE_APIS`, a self-test (`tests/test_quarantine.py`) checks every one still exists in the
installed versions, and a change breaks one small module instead of the suite. Imports happen in
the functions, so importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# (library, dotted path of the private name, what the suite loses without it)
PRIVATE_APIS: tuple[tuple[str, str, str], ...] = (
    ("pytest", "_pytest.junitxml.xml_key",
     "--junitxml would receive the structured result dicts instead of scalar requirement properties"),
    ("httpx", "httpx.HTTPTransport._pool",
     "the overall per-request deadline (a target dripping headers byte by byte) falls back to per-read timeouts"),
    ("httpcore", "httpcore.ConnectionPool._network_backend", "as for httpx.HTTPTransport._pool"),
    ("openai", "openai._models.FinalRequestOptions", "RTY-3 cannot ask the SDK for its retry decision"),
    ("openai", "openai.OpenAI._should_retry", "RTY-3 cannot ask the SDK whether it retries a response"),
    ("openai", "openai.OpenAI._calculate_retry_timeout", "RTY-3 cannot ask the SDK how long it waits"),
    ("openai", "openai._base_client.random",
     "the SDK's back-off jitter moves the global `random` module, which hypothesis warns of when an SDK call gathered ahead meets a fuzz test's draws"),
    ("pytest", "_pytest.config.findpaths.determine_setup",
     "`pytest --report /elsewhere/r.json` (a space, an existing file) keeps the rootdir pytest guessed before our options were known"),
    ("pytest", "_pytest.config.Config._getini",
     "as for determine_setup (the rootdir, ini file and ini cache are re-seated together)"),
    ("argparse", "argparse._ActionsContainer._handle_conflict_resolve",
     "a plugin or conftest that owns --profile/--target/--report/--level crashes every pytest run beside ours"),
    ("argparse", "argparse._ActionsContainer._handle_conflict_error", "as for _handle_conflict_resolve"),
    ("hypothesis", "hypothesis.internal.charmap.charmap_file",
     "each run rebuilds hypothesis's utf-8 codec table codepoint by codepoint (~2-5 s of CPU per run)"),
    ("hypothesis", "hypothesis.configuration.notice_initialization_restarted",
     "every run forked from the warm server warns (HypothesisSideeffectWarning) of the server's own strategy warm-up"),
    ("atexit", "atexit._run_exitfuncs",
     "a pytest run forked from the warm server (conformance.forkrun) skips the exit handlers a fresh process runs"),
)


def forget_side_effects_so_far() -> None:
    """hypothesis remembers the first thing that built a strategy after it was imported and, when its
    pytest plugin loads later, warns that some plugin did slow work too early. The warm-up of
    `conformance.fuzzing.prewarm` is deliberate and happens outside any pytest run: forget it, so
    a run forked from the warmed process starts as quiet as a fresh one."""
    from hypothesis.configuration import notice_initialization_restarted

    notice_initialization_restarted(warn=False)


def run_exit_handlers() -> None:
    """What a Python process does as it exits, for a forked one that ends with `os._exit`: every
    `atexit` handler, last registered first (hypothesis's temporary home is removed, logs flushed)."""
    import atexit

    atexit._run_exitfuncs()


def reseat_rootdir(config: Any, ns: Any, paths: list[str], args: list[str]) -> None:
    """Re-run pytest's rootdir/ini decision with the arguments parsed as they are meant (see
    `conformance.runner.rootdir`); leave pytest's decision alone when its internals moved."""
    try:
        from _pytest.config.findpaths import determine_setup

        rootpath, inipath, inicfg, *_ = determine_setup(
            inifile=ns.inifilename, override_ini=ns.override_ini, args=paths,
            rootdir_cmd_arg=ns.rootdir or None, invocation_dir=config.invocation_params.dir,
        )
        if rootpath == config.rootpath and inipath == config.inipath:
            return
        old_confcutdir = str(config.inipath.parent if config.inipath else config.rootpath)
        config._rootpath, config._inipath, config._inicfg = rootpath, inipath, inicfg
        config._inicache.clear()
        config._parser.extra_info["rootdir"] = str(rootpath)
        config._parser.extra_info["inifile"] = str(inipath)
    except Exception:  # noqa: BLE001 - another pytest's internals
        return
    if config.known_args_namespace.confcutdir == old_confcutdir:
        config.known_args_namespace.confcutdir = str(inipath.parent if inipath else rootpath)
    addopts = [str(a) for a in config.getini("addopts")]
    if addopts:  # the ini's addopts (e.g. `-p no:cacheprovider`) as pytest would have read them
        args[:0] = addopts
        config.pluginmanager.consider_preparse(addopts, exclude_only=False)
        config._parser.parse_known_args(args, namespace=config.known_args_namespace)


def yield_option_names(optparser: Any, is_ours: Callable[[Any], bool]) -> None:
    """argparse refuses a second `--profile` with an ArgumentError that kills the whole pytest run.
    On this parser only, a clash whose earlier holders are all ours (`is_ours(action)`) resolves
    by taking the name from us (recorded in `optparser._gwc_yielded`); any other clash stays an
    error, as pytest has it. New argument groups get the same handler."""
    import argparse
    import types

    if getattr(optparser, "_gwc_installed", False):
        return

    def handle(container: Any, action: Any, conflicting: list[tuple[str, Any]]) -> None:
        if all(is_ours(old) for _, old in conflicting):
            optparser.__dict__.setdefault("_gwc_yielded", []).extend(name for name, _ in conflicting)
            argparse._ActionsContainer._handle_conflict_resolve(container, action, conflicting)
            return
        argparse._ActionsContainer._handle_conflict_error(container, action, conflicting)

    def install(container: Any) -> None:
        if getattr(container, "conflict_handler", None) == "error":  # argparse looks it up by name
            container._handle_conflict_error = types.MethodType(handle, container)

    if not hasattr(argparse._ActionsContainer, "_handle_conflict_resolve"):
        return
    optparser._gwc_installed = True
    for container in (optparser, *getattr(optparser, "_action_groups", [])):
        install(container)
    add_group = optparser.add_argument_group

    def add_argument_group(*args: Any, **kwargs: Any) -> Any:
        group = add_group(*args, **kwargs)
        install(group)
        return group

    optparser.add_argument_group = add_argument_group


def yielded_option_names(config: Any) -> list[str]:
    optparser = getattr(getattr(config, "_parser", None), "optparser", None)
    return list(getattr(optparser, "_gwc_yielded", []))


def option_strings_taken(parser: Any) -> set[str]:
    return set(getattr(getattr(parser, "optparser", None), "_option_string_actions", {}) or {})


def junit_xml(config: Any) -> Any:
    """pytest's `LogXML` object for this run, or None (no `--junitxml`, or pytest moved it)."""
    try:
        from _pytest.junitxml import xml_key
    except ImportError:
        return None
    return config.stash.get(xml_key, None)


def wrap_network_backend(transport: Any, wrap: Callable[[Any], Any]) -> bool:
    """Replace the socket backend under an `httpx.HTTPTransport` with `wrap(backend)`; False when
    httpx/httpcore no longer have the layout (the caller keeps the plain transport)."""
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if pool is None or backend is None:
        return False
    pool._network_backend = wrap(backend)
    return True


def openai_retry_decision(sdk: Any, response: Any) -> tuple[bool, float]:
    """The official SDK's own retry decision for `response`: (retries it, seconds it waits)."""
    from openai._models import FinalRequestOptions

    options = FinalRequestOptions.construct(method="post", url="/x")
    return sdk._should_retry(response), sdk._calculate_retry_timeout(2, options, response.headers)


def own_openai_jitter(draw: Callable[[], float]) -> bool:
    """Have the SDK draw its back-off jitter from `draw` instead of the global `random.random`;
    False when its jitter is no longer drawn there (it then moves the global module as before)."""
    import random

    try:
        import openai._base_client as base
    except ImportError:
        return False
    if getattr(base, "random", None) == random.random:
        base.random = draw
    return getattr(base, "random", None) == draw


def seed_codec_table(codec_name: str, intervals: Callable[[], list[tuple[int, int]]]) -> bool:
    """Write `intervals()` where hypothesis looks for its table of the codepoints `codec_name` can
    encode (`intervals_from_codec`), unless one is there (then `intervals` is not called: it costs
    ~0.3 CPU-s, and the lasting cache has it from the first run on); False when hypothesis moved it. The
    table is a pure function of Python's codec, so a correct one read from the file and the one
    hypothesis would build are the same data (the generated examples do not change)."""
    import gzip
    import json

    try:
        from hypothesis.internal.charmap import charmap_file

        path = charmap_file(f"codec-{codec_name}")
        if path.exists():
            return True
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".gwc-tmp")
        with gzip.GzipFile(tmp, "wb", mtime=1) as out:
            out.write(json.dumps([list(pair) for pair in intervals()]).encode())
        tmp.replace(path)
    except Exception:  # noqa: BLE001 - another library's internals; hypothesis builds it itself
        return False
    return True
