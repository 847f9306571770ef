"""Property-based fuzzing (FUZ-1, FUZ-2): generate odd requests, send them through the suite's
client, and shrink any violation to a minimal request shown as a curl line.

Why our own engine around hypothesis instead of schemathesis's runner: every request must go
through `GatewayClient` (budget, rate cap, redaction, evidence, the whole-run observer), the
number of requests must be bounded up front (`--fuzz-examples`, plus a cap on shrinking), and the
run must be reproducible from one seed. Schemathesis contributes the schema-driven strategies
(`operation.as_strategy`, positive and negative); its coverage phase is not used, so nothing is
sent that the budget does not see.

Hypothesis replays candidates while shrinking; identical requests are answered from a cache, so a
hang costs one timeout, not one per replay, and a flaky target cannot turn a finding into noise.
"""

from __future__ import annotations

import base64
import functools
import re
import sys
import unittest
import zlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from conformance import checks
from conformance.checks.fuzz import timeout_problems
from conformance.checks.problem import Problem
from conformance.contract.profiles import Profile
from conformance.fuzzing import draw_memo, storage
from conformance.transport.client import BudgetExhausted, Exchange, GatewayClient
from conformance.transport.gather import Pipeline

if sys.version_info >= (3, 11):
    from builtins import BaseExceptionGroup as _GROUP
else:  # pragma: no cover - 3.10: the backport pytest itself depends on there
    from exceptiongroup import BaseExceptionGroup as _GROUP

# Shrinking sends requests too: at most this many per example asked for.
SHRINK_FACTOR = 6
CHAT = "/v1/chat/completions"
MODELS = "/v1/models"
NO_SUCH_MODEL = "gwc-fuzz-no-such-model"
OVERSIZE = 8192

try:  # what h11 (httpx's HTTP/1.1) will put on the wire; anything else fails locally, not at the target
    from h11._abnf import field_value as _FIELD_VALUE

    _SENDABLE = re.compile(_FIELD_VALUE.encode("ascii"))
except Exception:  # noqa: BLE001  # pragma: no cover
    _SENDABLE = re.compile(rb"(?:[\x21-\x7e\x80-\xff](?:[ \t]+[\x21-\x7e\x80-\xff]+)*)?")


def sendable(value: str) -> bool:
    return _SENDABLE.fullmatch(value.encode("utf-8")) is not None


# --- what counts as a violation --------------------------------------------------------------

class FuzzFinding(Exception):
    """A generated request the target answered wrongly; hypothesis shrinks it."""

    requirement = "FUZ-1"

    def __init__(self, problems: list[Problem], exchange: Exchange) -> None:
        super().__init__(str(problems[0]))
        self.problems = problems
        self.exchange = exchange


class HangFinding(FuzzFinding):
    requirement = "FUZ-2"


def malformed_problems(exchange: Exchange, profile: Profile) -> list[Problem]:
    """FUZ-1: no 5xx, no dropped connection, and every error in the profile's envelope."""
    if exchange.status is None:
        return [] if timeout_problems(exchange) else [Problem.at(
            exchange, "the connection failed instead of an error response", title="connection failed", requirement="FUZ-1")]
    if exchange.status >= 500:
        return [Problem.at(exchange, "a malformed request got a server error", title="server error on a malformed request",
                           requirement="FUZ-1"), *checks.envelope_problems(exchange, profile)]
    if exchange.status >= 400:
        return checks.envelope_problems(exchange, profile)
    return []


def judge(exchange: Exchange, profile: Profile) -> None:
    problems = timeout_problems(exchange)
    if problems:
        raise HangFinding(problems, exchange)
    problems = malformed_problems(exchange, profile)
    if problems:
        raise FuzzFinding(problems, exchange)


# --- sending ----------------------------------------------------------------------------------

@dataclass
class Fuzzer:
    """Sends generated requests for one fuzz test: cached, bounded, budget-aware."""

    client: GatewayClient
    profile: Profile
    label: str
    max_sends: int
    sent: int = 0
    budget_error: BudgetExhausted | None = None
    found: bool = False  # a finding is being shrunk: keep replaying (from the cache) to its end
    exchanges: list[Exchange] = field(default_factory=list)
    _cache: dict[tuple[Any, ...], Exchange] = field(default_factory=dict)
    _plan: list[tuple[tuple[Any, ...], dict[str, Any]]] | None = None  # set while a dry run plans requests
    # Told of each request the dry run plans, as it plans it (the gathering sends it at once).
    _planned: Callable[[tuple[Any, ...], dict[str, Any]], None] | None = None

    def send(self, method: str, path: str, *, authorization: str | None = None, headers: dict[str, str] | None = None,
             content: bytes | None = None, params: dict[str, Any] | None = None) -> Exchange | None:
        """The exchange, or None when nothing may be sent any more (budget or shrink cap reached)."""
        headers = dict(headers or {})
        key = (method, path, authorization, tuple(sorted(headers.items())), content,
               tuple(sorted((str(k), str(v)) for k, v in (params or {}).items())))
        if self._plan is not None:  # a dry run: note the request, send nothing, read no answer
            if all(key != planned for planned, _ in self._plan):
                request = {"method": method, "path": path, "authorization": authorization, "headers": headers,
                           "content": content, "params": params}
                self._plan.append((key, request))
                if self._planned is not None:
                    self._planned(key, request)
            return None
        return self.send_now(key, method, path, authorization=authorization, headers=headers, content=content,
                             params=params)

    def send_now(self, key: tuple[Any, ...], method: str, path: str, *, authorization: str | None,
                 headers: dict[str, str], content: bytes | None, params: dict[str, Any] | None) -> Exchange | None:
        """`send` for a request whose cache `key` is known (also while a dry run is still planning)."""
        if key in self._cache:
            return self._cache[key]
        if self.budget_error is not None or self.sent >= self.max_sends:
            return None
        try:
            exchange = self.client.request(method, path, authorization=authorization, headers=headers,
                                           content=content, params=params or None, label=self.label)
        except BudgetExhausted as exc:
            self.budget_error = exc
            return None
        self.sent += 1
        self._cache[key] = exchange
        self.exchanges.append(exchange)
        return exchange

    def check(self, exchange: Exchange | None) -> None:
        if exchange is not None:
            try:
                judge(exchange, self.profile)
            except FuzzFinding:
                self.found = True
                raise

    def out_of_budget(self) -> bool:
        """Nothing more can be sent and nothing is being shrunk: generating more examples is waste."""
        if self.budget_error is None and self.client.budget.spent:
            self.budget_error = BudgetExhausted(self.client.budget.spent_reason())  # stopped short: not a pass
        return not self.found and self.budget_error is not None


Strategy = st.SearchStrategy[Any] | Callable[[], st.SearchStrategy[Any]]


def gathered_search(fuzzer: Fuzzer, strategy: Strategy, prop: Callable[[Any], None], *, examples: int,
                    seed: int, judged: bool = True, stop: Callable[[], bool] | None = None,
                    drawn_as: Hashable | None = None) -> list[FuzzFinding]:
    """`search`, with the examples' requests sent side by side first (`client.concurrency` at once).

    Hypothesis draws the examples from the seed alone while none fails, so a dry run whose sends
    only note the request (and so cannot fail) draws exactly the examples the real run would: those
    requests go out together and are judged in order. With no finding that is the search's whole
    result, the same examples and requests as a serial run. At the first finding (or a spent
    budget) no further example is started, and the real search runs on the answers already
    cached: it reaches the same failing example and shrinks it as a serial run does. `judged`:
    whether `prop` judges its exchanges (FUZ-3's only collects them); `stop` as for `search` (a
    spent budget ends the search: nothing is planned or sent after it). `drawn_as`: the key under
    which a warm server may have drawn this strategy's examples already (`draw_memo`); the dry
    run then goes through them instead of drawing them again. `strategy` may be a function that
    builds it: a schema's strategies cost ~0.4 CPU-s to build (schemathesis loads the document), on
    the run's critical path, and are not needed at all when the examples were drawn elsewhere and
    none fails."""
    built = functools.cache(functools.partial(_built, strategy))  # a dry run and a finding's search share one
    concurrency = fuzzer.client.concurrency
    if concurrency <= 1 or examples <= 0 or (stop is not None and stop()):
        return search(built(), prop, examples=examples, seed=seed, stop=stop)
    plan: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    found = False

    def done(i: int) -> bool:
        # Judges only (in order, from the worker that ended the call): pure, so any thread may.
        nonlocal found
        exchange = fuzzer._cache.get(plan[i][0])
        if exchange is None or not judged:
            return fuzzer.budget_error is not None
        try:
            judge(exchange, fuzzer.profile)
        except FuzzFinding:
            found = True
        return found or fuzzer.budget_error is not None

    def send(key: tuple[Any, ...], request: dict[str, Any]) -> Exchange | None:
        # Once the budget refused a request nothing planned is sent (or even tried) any more.
        return None if fuzzer.out_of_budget() else fuzzer.send_now(key, **request)

    # Each planned request goes out as the dry run plans it, so the answers come back while it is
    # still drawing the next examples (a schema's strategies draw slowly), not after.
    pipeline = Pipeline(concurrency, done)
    fuzzer._plan, fuzzer._planned = plan, lambda key, request: pipeline.submit(functools.partial(send, key, request))
    def planning_over() -> bool:
        # Once the budget refused a request, or an answer already failed, drawing further examples
        # only plans requests that will never go (the search below starts from the answers cached).
        return found or fuzzer.budget_error is not None or (stop is not None and stop())

    drawn = draw_memo.recall(draw_memo.entry_key(drawn_as, seed, examples)) if drawn_as is not None else None
    try:
        if drawn is None:
            search(built(), prop, examples=examples, seed=seed, stop=planning_over)
        else:
            for value in drawn:  # what `search` would do: the same values, the same stop before each
                if planning_over():
                    break
                prop(value)
    except BaseException:
        pipeline.abandon()
        raise
    finally:
        fuzzer._plan, fuzzer._planned = None, None
    pipeline.finish()
    order: dict[tuple[Any, ...] | None, int] = {key: i for i, (key, _) in enumerate(plan)}
    fuzzer.exchanges.sort(key=lambda e: order.get(_key_of(fuzzer, e), len(order)))
    if found or fuzzer.budget_error is not None:
        return search(built(), prop, examples=examples, seed=seed, stop=stop)
    return []


def _built(strategy: Strategy) -> st.SearchStrategy[Any]:
    return strategy if isinstance(strategy, st.SearchStrategy) else strategy()


def _key_of(fuzzer: Fuzzer, exchange: Exchange) -> tuple[Any, ...] | None:
    for key, cached in fuzzer._cache.items():
        if cached is exchange:
            return key
    return None


def seed_for(name: str, seed: int | None) -> int:
    """`--hypothesis-seed` when given; else a fixed seed per test, so a CI gate never flakes."""
    return seed if seed is not None else zlib.crc32(name.encode())


class _Stop(unittest.SkipTest):
    """`stop()` said so: hypothesis re-raises a skip at once (no further example, no shrinking)."""


def draw_once(key: Hashable, strategy: st.SearchStrategy[Any], *, examples: int, seed: int) -> None:
    """Draw what `gathered_search(..., drawn_as=key)` would, with no request sent, and keep it for
    the processes forked from this one (`draw_memo`)."""
    values: list[Any] = []
    search(strategy, values.append, examples=examples, seed=seed)
    draw_memo.remember(draw_memo.entry_key(key, seed, examples), values)


def search(strategy: st.SearchStrategy[Any], prop: Callable[[Any], None], *, examples: int, seed: int,
           stop: Callable[[], bool] | None = None) -> list[FuzzFinding]:
    """Run `prop` on `examples` generated values; → the shrunk findings (one per distinct failure).
    `stop()` true before an example ends the search there (the budget is spent)."""
    if examples <= 0 or (stop is not None and stop()):
        return []
    storage.keep_hypothesis_out_of_cwd()

    @settings(max_examples=examples, database=None, deadline=None, derandomize=False,
              phases=(Phase.explicit, Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck),
              report_multiple_bugs=True, verbosity=Verbosity.quiet, print_blob=False)
    @hypothesis_seed(seed)
    @given(strategy)
    def run(value: Any) -> None:
        if stop is not None and stop():
            raise _Stop("stopped")
        prop(value)

    try:
        run()
    except _Stop:
        return []
    except FuzzFinding as finding:
        return [finding]
    except _GROUP as group:
        found = [e for e in _flatten(group) if isinstance(e, FuzzFinding)]
        others = [e for e in _flatten(group) if not isinstance(e, FuzzFinding)]
        if others:
            raise others[0] from None
        return found
    return []


def _flatten(group: BaseException) -> list[BaseException]:
    if isinstance(group, _GROUP):
        return [leaf for e in group.exceptions for leaf in _flatten(e)]
    return [group]


def describe_finding(finding: FuzzFinding, client: GatewayClient, seed: int | None) -> str:
    """One line for a failure: the problem, the seed (None: a fixed probe), and a redacted curl line."""
    curl = finding.exchange.curl(client.redactor)
    if len(curl) > 600:
        curl = curl[:600] + f"… [{len(curl)} chars; full command in the report evidence]"
    extra = len(finding.problems) - 1
    problem = str(finding.problems[0]) + (f" (+{extra} more problem{'s' if extra > 1 else ''})" if extra else "")
    how = f"shrunk example (--hypothesis-seed {seed})" if seed is not None else "reproduce"
    return client.redactor.text(f"{problem}; {how}: {curl}")


# --- strategies beyond the schema --------------------------------------------------------------

_HEADER_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\r\n\x00"), max_size=40
)


def authorization_values(key: str) -> st.SearchStrategy[str]:
    """Authorization headers a client might send by mistake, and some nobody would."""
    basic = base64.b64encode(f"{key}:".encode()).decode()
    fixed = [
        "", " ", "\t", "Bearer", "Bearer ", "Bearer  ", "Bearer \t", f"Basic {basic}", f"Token {key}", f"Bearer{key}",
        f"Bearer {key} extra", f"Bearer {key[:-1]}", f"Bearer {key}{key}", f"Bearer {key.upper()}",
        f"Bearer \"{key}\"", "Bearer null", "Bearer undefined", "Bearer ключ", "Bearer 🔑🔑🔑",
        f"Bearer {key}\u200b", "Bearer \u0085\u009b\u00a0", "Bearer a\tb", "Bearer " + "A" * 1024,
        "Bearer " + "A" * OVERSIZE, "Bearer " + "é" * 512,
    ]
    schemes = st.sampled_from(["Bearer", "bearer", "Basic", "Token", "Digest", "ApiKey", "", "BEARER"])
    generated = st.builds(lambda s, t: f"{s} {t}".strip(), schemes, _HEADER_TEXT)
    return st.one_of(st.sampled_from(fixed), generated).filter(sendable)


def _chat_body(**extra: Any) -> dict[str, Any]:
    # Empty messages: rejected by any OpenAI-compatible gateway, so no raw-body case can be billed.
    return {"model": NO_SUCH_MODEL, "messages": [], **extra}


def raw_bodies() -> st.SearchStrategy[tuple[str | None, bytes]]:
    """(content type, body) pairs a JSON parser should reject politely."""
    import json

    valid = json.dumps(_chat_body()).encode()
    invalid_json = st.sampled_from([b"{", b'{"model": ', b"nul", b'{"model": "x",}', b"{'model': 'x'}", b"[1,2",
                                    b"NaN", b'{"a":1}{"b":2}', b"", b" ", b'"just a string"', b"[]", b"123"])
    garbage = st.binary(max_size=64)
    text = _HEADER_TEXT.map(lambda t: t.encode("utf-8"))
    json_ct = st.just("application/json")
    nested = st.sampled_from([64, 512, 5000]).flatmap(lambda depth: st.sampled_from([
        b'{"model": "m", "messages": ' + b"[" * depth + b"]" * depth + b"}",
        b'{"a":' * depth + b"1" + b"}" * depth,
    ]))
    wrong_type = st.sampled_from([None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                  "application/xml", "application/json; charset=latin-1", "image/png", "*/*"])
    invalid_utf8 = st.sampled_from([b'{"model": "\xff\xfe", "messages": []}', b"\xc3\x28", b'{"model": "\xc0\xaf"}',
                                    b'{"model": "\xed\xa0\x80", "messages": []}', b"\xef\xbb\xbf\xff"])
    return st.one_of(
        st.tuples(json_ct, invalid_json | garbage | text),
        st.tuples(json_ct, st.just(b"\xef\xbb\xbf" + valid)),
        st.tuples(json_ct, nested),
        st.tuples(wrong_type, st.just(valid)),
        st.tuples(json_ct, invalid_utf8),
    )


_QUERY_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)


def query_and_paths() -> st.SearchStrategy[tuple[str, str, dict[str, str]]]:
    """(method, path, query) oddities around the inference routes."""
    paths = st.sampled_from([
        MODELS, MODELS + "/", "/v1//models", "/v1/models%2F..", "/v1/./models", "/v1/models;x=1", "/V1/MODELS",
        "/v1/" + "a" * 2000, "/v1/%ff", "/v1/%00", "/v1/models/%2e%2e/%2e%2e", "/v1/chat/completions/",
        "/v1/chat//completions", "/v1/chat/completions%00", "/v1/models/" + "x" * 300, "/v1/\u00e9",
    ])
    queries: st.SearchStrategy[dict[str, str]] = st.one_of(
        st.just({}),
        st.dictionaries(_QUERY_TEXT, _QUERY_TEXT, max_size=3),
        st.sampled_from([{"limit": "-1"}, {"limit": "1e309"}, {"limit": "%"}, {"a": "x" * 4000}, {"": ""}]),
    )
    return st.tuples(st.sampled_from(["GET", "POST", "DELETE", "PATCH", "OPTIONS"]), paths, queries)


def oversized_requests(key: str) -> list[tuple[str, dict[str, Any]]]:
    """FUZ-2's fixed probes: the sizes that make naive servers stall (each already minimal)."""
    import json

    pad = json.dumps(_chat_body(pad="a" * 900_000)).encode()
    too_big = json.dumps(_chat_body(pad="a" * 1_100_000)).encode()
    return [
        ("8 KB Authorization header", {"method": "GET", "path": MODELS, "authorization": "Bearer " + "A" * OVERSIZE}),
        ("8 KB custom header", {"method": "GET", "path": MODELS, "authorization": f"Bearer {key}",
                                "headers": {"x-gwc-fuzz": "a" * OVERSIZE}}),
        ("60 headers", {"method": "GET", "path": MODELS, "authorization": f"Bearer {key}",
                        "headers": {f"x-gwc-fuzz-{i}": "v" * 100 for i in range(60)}}),
        ("6 KB query string", {"method": "GET", "path": MODELS, "authorization": f"Bearer {key}",
                               "params": {"q": "q" * 6000}}),
        ("900 KB body", {"method": "POST", "path": CHAT, "authorization": f"Bearer {key}",
                         "headers": {"content-type": "application/json"}, "content": pad}),
        ("1.1 MB body", {"method": "POST", "path": CHAT, "authorization": f"Bearer {key}",
                         "headers": {"content-type": "application/json"}, "content": too_big}),
    ]
