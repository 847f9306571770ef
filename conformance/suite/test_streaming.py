"""ENV-6: where a streaming error appears — a JSON error before the stream, an SSE event after it.

Before the first event the gateway still owns the status line: a rejected `stream: true` request
must get the same JSON error (and status) as without streaming, never a 200 event stream that
SDKs would read as success. After the first event the error can only be an event; its data must
be the envelope, and the stream must still end cleanly.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from typing import Any

import pytest

from conformance import checks
from conformance.checks import sse
from conformance.outcomes import billable_reason, cite, inconclusive, not_applicable
from conformance.scenarios.inference import Burst
from conformance.scenarios.scenario import ScenarioUnavailable, unprovoked_burst_reason
from conformance.transport.client import Exchange
from conformance.transport.gather import run_lanes

PRESTART_CASES = ("unauthorized", "no_credit", "rate_limited", "bad_params")
MIDSTREAM_MAX_TOKENS = 16


# Bursts ENV-6's rate-limited case may send before its stream meets a refused window (see _prestart).
STREAM_BURST_TRIES = 3


def _stream(book, api_key: str | None, label: str, gathered: dict[str, Exchange] | None = None,
            **overrides: Any) -> Exchange:
    """The streaming request `label` names: the one gathered ahead (`gathered_streams`), else sent now."""
    if gathered is not None and label in gathered:
        return gathered[label]
    return book.chat(api_key, label=label, json=book.chat_body(stream=True, **overrides))


def _midstream_overrides(target_config) -> dict[str, Any] | None:
    overlay = (target_config.section("streaming") or {}).get("midstream_error")
    # Room for the failure to come after a few tokens (the overlay may set its own max_tokens).
    return {"max_tokens": MIDSTREAM_MAX_TOKENS, **overlay} if isinstance(overlay, dict) else None


# The streams `gather_ahead` is sending in the background, and the event set once it has ended.
_AHEAD_STREAMS = pytest.StashKey[tuple[dict[str, Exchange], Any]]()


@pytest.fixture(scope="session")
def gathered_streams(request, book, target_config, profile, run_context) -> dict[str, Exchange]:
    """The streaming requests of the selected ENV-6 tests that depend on nothing before them (not
    the rate-limited case: its burst stays in order), sent side by side before the first test
    reads one (or gathered ahead: waited for); label → exchange. What cannot be built here is left
    to its test, which says why."""
    if run_context.workers > 1:  # an xdist worker holds every collected item, not the ones it will run
        return {}
    ahead = request.config.stash.get(_AHEAD_STREAMS, None)
    if ahead is not None:
        ahead[1].wait()
        return ahead[0]
    return _gather_streams(request.session.items, book, target_config, profile, run_context)


def _gather_streams(items, book, target_config, profile, run_context, stop_when=None) -> dict[str, Exchange]:
    gathered: dict[str, Exchange] = {}
    selected = {(getattr(item, "originalname", item.name), getattr(getattr(item, "callspec", None), "params", {})
                 .get("case")) for item in items}
    valid, no_credit = target_config.role("valid"), target_config.role("no_credit")
    calls: dict[str, tuple[str | None, dict[str, Any]]] = {}
    if ("test_error_before_stream_is_json", "unauthorized") in selected:
        calls["stream:unauthorized"] = ("sk-" + secrets.token_hex(24), {})
    if ("test_error_before_stream_is_json", "bad_params") in selected and valid:
        calls["stream:bad_params"] = (valid["api_key"], {"temperature": 7})
    if ("test_error_before_stream_is_json", "no_credit") in selected and no_credit \
            and any(c.role == "no_credit" for c in profile.codes):
        calls["stream:no_credit"] = (no_credit["api_key"], {})
    if run_context.billable_allowed and valid:  # served streams cost money on a real target
        if ("test_success_stream_well_formed", None) in selected:
            calls["stream:success"] = (valid["api_key"], {})
        midstream = _midstream_overrides(target_config)
        if ("test_error_after_first_event_is_an_event", None) in selected and midstream is not None:
            calls["stream:midstream-error"] = (valid["api_key"], midstream)

    def send(label: str, api_key: str | None, overrides: dict[str, Any]):
        def call() -> None:
            gathered[label] = _stream(book, api_key, label, **overrides)
        return call

    run_lanes([[send(label, key, overrides)] for label, (key, overrides) in calls.items()], book.client.concurrency,
              stop_when=stop_when)
    return gathered


def _prestart(case: str, book, need_role, profile, run_context,
              gathered: dict[str, Exchange]) -> tuple[Exchange, int, str | None, list[Exchange]]:
    """Send the case's rejected streaming request → (exchange, expected status, expected code, streams seen)."""
    label = f"stream:{case}"
    if case == "unauthorized":
        return _stream(book, "sk-" + secrets.token_hex(24), label, gathered), 401, profile.unauthorized_code, []
    if case == "bad_params":
        return _stream(book, need_role("valid")["api_key"], label, gathered, temperature=7), 400, None, []
    if case == "no_credit":
        code = next((c for c in profile.codes if c.role == "no_credit"), None)
        if code is None:
            not_applicable("the profile catalogues no code for role 'no_credit'")
        return _stream(book, need_role("no_credit")["api_key"], label, gathered), code.status, code.code, []
    code = next((c for c in profile.codes if c.trigger == "burst"), None)
    if code is None:
        not_applicable("the profile catalogues no rate-limit code")
    role = need_role(code.role)
    if not run_context.billable_allowed:
        pytest.skip(billable_reason("a streaming burst"))
    refused = book.once(("ENV-6", "rate_limited"),  # gathered ahead (`gather_ahead`), or sent here
                        lambda: refused_stream(book, role, code, label, profile))
    burst, stream = refused.burst, refused.stream
    if stream is None:
        cite(*burst.sent[-2:])
        if not role.get("limit"):
            inconclusive(unprovoked_burst_reason(str(code.role), burst.attempts))
        # Whether the key keeps its limit is MAP-3's question (a slow round trip can outlast a
        # short window); without the refusal there is no refused stream for ENV-6 to judge.
        inconclusive(f"{burst.attempts} requests with role '{code.role}' drew no {code.status} here, so no "
                     "refused stream to judge (MAP-3 judges the limit itself)")
    if not _served(stream, profile):
        return stream, code.status, code.code, []
    assert burst.refused is not None
    cite(burst.refused, stream)
    inconclusive(f"{stream.describe()}: the key's rate-limit window had reset before the streaming request "
                 f"in {STREAM_BURST_TRIES} bursts (the last 429 came {burst.refused.elapsed_s:.2f} s earlier), "
                 "so no refused stream to judge")


@dataclass
class RefusedStream:
    """ENV-6's rate-limited case: the last burst, and the stream asked for while the key was refused
    (None: that burst drew no refusal; a served stream: every try met a window that had reset)."""

    burst: Burst
    stream: Exchange | None


def refused_stream(book, role: dict[str, Any], code, label: str, profile) -> RefusedStream:
    """Drive the key into its limit with plain requests (fast: a whole burst fits in one window even on
    a slow machine, where paced streams would not), then ask for a stream while it is refused. A
    gateway far away (or a loaded machine) may see the window reset between the 429 and the
    stream: the stream then opens the next window, and one more burst refuses it sooner."""
    for _ in range(STREAM_BURST_TRIES):
        burst = book.burst(role, label=label)
        if burst.refused is None or burst.refused.status != code.status:
            return RefusedStream(burst, None)
        stream = _stream(book, role["api_key"], label)
        if not _served(stream, profile):
            break
    return RefusedStream(burst, stream)


def gather_ahead(request: pytest.FixtureRequest) -> None:
    """Send the independent ENV-6 streams (what `gathered_streams` would send) in a lane of their own
    (called by conftest's `_gather_ahead` once no test that reads a key's spend is left before this
    module)."""
    run_context, profile = request.getfixturevalue("run_context"), request.getfixturevalue("profile")
    target_config, book = request.getfixturevalue("target_config"), request.getfixturevalue("book")
    items = list(request.session.items)
    streams: dict[str, Exchange] = {}
    ended = book.client.gather_ahead("streaming", lambda stop: streams.update(
        _gather_streams(items, book, target_config, profile, run_context, stop_when=stop)))
    request.config.stash[_AHEAD_STREAMS] = (streams, ended)


def chain_ahead(request: pytest.FixtureRequest) -> None:
    """Queue ENV-6's refused stream on the rate-limited key's lane (`ScenarioBook.chain_ahead`, after
    the retry tests' evidence there; see `test_retry.chain_ahead`)."""
    run_context, profile = request.getfixturevalue("run_context"), request.getfixturevalue("profile")
    target_config = request.getfixturevalue("target_config")
    selected = any(getattr(item, "originalname", None) == "test_error_before_stream_is_json"
                   and getattr(getattr(item, "callspec", None), "params", {}).get("case") == "rate_limited"
                   for item in request.session.items)
    code = next((c for c in profile.codes if c.trigger == "burst"), None)
    role = target_config.role(code.role) if code is not None and code.role else None
    if not selected or not run_context.billable_allowed or code is None or role is None:
        return
    book = request.getfixturevalue("book")
    book.chain_ahead(role["api_key"], str(code.role), ("ENV-6", "rate_limited"),
                     functools.partial(refused_stream, book, role, code, "stream:rate_limited", profile))


def _served(exchange: Exchange, profile) -> bool:
    """A stream that started and does not open with an error: the burst has not been refused yet."""
    if exchange.status != 200 or exchange.content_type != sse.EVENT_STREAM:
        return False
    events, _ = sse.parse(exchange.text)
    return bool(events) and not sse.is_error_event(events[0], profile)


# The non-streaming scenario each case mirrors: ENV-6 asks for the *same* answer with stream:true,
# so it compares against what the gateway said without streaming (whether that answer keeps the
# catalogue is MAP-3 / MAP-5's question, not this one's).
_MIRRORS = {"unauthorized": "unknown_key", "bad_params": "temperature_out_of_range"}


def _unstreamed(case: str, book, profile) -> Exchange | None:
    name = _MIRRORS.get(case)
    if name is None:
        role = "no_credit" if case == "no_credit" else None
        code = next((c for c in profile.codes if (c.role == role if role else c.trigger == "burst")), None)
        name = code.code if code else None
    if name is None or name not in book.scenarios:
        return None
    try:
        exchange = book.get(name)
    except ScenarioUnavailable:
        return None
    return exchange if exchange.status is not None else None


@pytest.mark.requirement("ENV-6")
@pytest.mark.parametrize("case", PRESTART_CASES)
def test_error_before_stream_is_json(case, book, need_role, profile, run_context, rule_suffix, no_problems, gathered_streams):
    """An error raised before a stream starts is a normal JSON error with its status"""
    exchange, status, code, streams = _prestart(case, book, need_role, profile, run_context, gathered_streams)
    mirror = _unstreamed(case, book, profile)
    if mirror is not None and mirror.status < 400:
        not_applicable(f"{mirror.describe()}: not rejected without streaming either, so no rejection to compare "
                    "(MAP-3 / MAP-5 report it)")
    if mirror is not None:
        status = mirror.status
        found, mirrored_code = checks.code_of(mirror, profile)
        code = mirrored_code if found else None
    cite(exchange, *streams[-2:])
    assert exchange.status is not None, f"{exchange.describe()}: the target did not answer"
    assert exchange.status == status and exchange.content_type != sse.EVENT_STREAM, (
        f"{exchange.describe()}: a stream:true request rejected before the stream started must get a JSON "
        f"error with status {status}, got {exchange.status} {exchange.content_type or '(none)'}" + rule_suffix
    )
    problems = checks.envelope_problems(exchange, profile)
    found, actual = checks.code_of(exchange, profile)
    if not problems and code is not None and actual != code:
        problems.append(f"{exchange.describe()}: expected code {code!r}, got {actual if found else '(none)'!r}")
    problems += [p for s in streams for p in sse.stream_problems(s, profile)]
    no_problems(problems)


@pytest.mark.requirement("ENV-6")
def test_success_stream_well_formed(billable, book, need_role, profile, no_problems, gathered_streams):
    """An error raised before a stream starts is a normal JSON error with its status; an error after the first event is an SSE event whose data validates against the envelope."""
    exchange = _stream(book, need_role("valid")["api_key"], "stream:success", gathered_streams)
    cite(exchange)
    problems = sse.stream_problems(exchange, profile)
    no_problems(problems)


@pytest.mark.requirement("ENV-6")
def test_error_after_first_event_is_an_event(billable, book, need_role, target_config, profile, no_problems,
                                             gathered_streams):
    """an error after the first event is an SSE event whose data validates against the envelope"""
    section = target_config.section("streaming")
    overrides = _midstream_overrides(target_config)
    if overrides is None:
        pytest.skip(target_config.missing_section_reason("streaming") if section is None
                    else "section 'streaming' has no midstream_error in the target config")
    exchange = _stream(book, need_role("valid")["api_key"], "stream:midstream-error", gathered_streams, **overrides)
    cite(exchange)
    if sse.ended_normally(exchange, profile):
        inconclusive(f"{exchange.describe()}: the stream ended normally; the mid-stream failure configured in "
                     "streaming.midstream_error did not fire")
    problems = sse.midstream_error_problems(exchange, profile)
    no_problems(problems)
