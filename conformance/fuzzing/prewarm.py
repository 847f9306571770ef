"""Build and resolve every OpenAPI operation's fuzz strategies for every shipped profile, once.

Why: schemathesis and hypothesis-jsonschema build a body strategy from the schema the first time
a process draws from it (~3.5 s of CPU for the four operations); a process that has drawn once
draws again in a tenth of that. The kill matrix forks every suite run from one server process:
importing this module there (`forkrun.PRELOAD`) means each forked run inherits resolved
strategies instead of rebuilding them, with 150 runs on 2 cores that is minutes of CI. Importing
it anywhere else only costs that time once; the generated data do not change (they depend on the
seed, not on the strategy objects' history).
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conformance.contract.profiles import load_profile, shipped_profiles
from conformance.fuzzing.openapi import operation, operation_labels
from conformance.quarantine import forget_side_effects_so_far

WARM_EXAMPLES = 3


def warm(profile_ref: str) -> None:
    from schemathesis import GenerationMode

    profile = load_profile(profile_ref)
    for label in operation_labels():
        op = operation(profile, label)
        strategy = st.one_of(op.as_strategy(generation_mode=GenerationMode.NEGATIVE),
                             op.as_strategy(generation_mode=GenerationMode.POSITIVE))

        @settings(max_examples=WARM_EXAMPLES, database=None, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), phases=[Phase.generate])
        @given(strategy)
        def draw(case: object) -> None:
            pass

        draw()


for _profile in shipped_profiles():
    warm(_profile)
forget_side_effects_so_far()
