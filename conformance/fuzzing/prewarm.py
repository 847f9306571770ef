"""Draw every OpenAPI operation's fuzz examples for every shipped profile, once, in a fork server.

Why: drawing the operations' bodies (and FUZ-3's) is the costliest part of a run's fuzzing (~0.7 CPU-s at 5
examples, ~1.4 at 15), and building their strategies the first time a process draws costs ~3.5 s
more. The kill matrix and the self-tests fork every suite run from a server that imports this
module (`forkrun.PRELOAD`, last: see `draw_memo` on the constants hypothesis mixes into its draws),
so each forked run inherits built strategies and the examples its FUZ-1 test would draw, at the
numbers of examples those runs use. Importing it anywhere else only costs that time once; the
generated data do not change (they depend on the strategy and seed, which `draw_memo` keys on).
"""

from __future__ import annotations

from conformance.contract.profiles import load_profile, shipped_profiles
from conformance.fuzzing.billed_rejections import rejection_draw
from conformance.fuzzing.engine import draw_once
from conformance.fuzzing.openapi import openapi_draws, operation_labels
from conformance.fuzzing.storage import leave_storage_to_each_run
from conformance.quarantine import forget_side_effects_so_far

# The numbers of examples forked runs fuzz with: the default (`runner.options`), and the kill
# matrix's (its cells that target no FUZ requirement); any other number draws in the run as always.
# tests/test_draw_memo.py holds them to those two.
DRAWN_EXAMPLES = (15, 5)


def warm(profile_ref: str) -> None:
    profile = load_profile(profile_ref)
    # FUZ-3's search first, then each operation's, in the order a run makes them; forked runs
    # certify the reference, where spending is allowed. One strategy per search, for both numbers.
    searches = [[rejection_draw(profile, examples=examples, seed=None) for examples in DRAWN_EXAMPLES]]
    searches += [[openapi_draws(profile, [label], examples=examples, seed=None, billable_allowed=True)[0]
                  for examples in DRAWN_EXAMPLES] for label in operation_labels()]
    for draws in searches:
        strategy = draws[0].strategy()
        for draw in draws:
            draw_once(draw.drawn_as, strategy, examples=draw.examples, seed=draw.seed)


for _profile in shipped_profiles():
    warm(_profile)
leave_storage_to_each_run()
forget_side_effects_so_far()
