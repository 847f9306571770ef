"""What every suite run builds the same way, built once in a process that forks runs.

Why: the kill matrix (and the self-tests' fork pool) fork each suite run from a server that has
already imported pytest and the plugin; a forked run inherits that server's memory. Importing
this module there leaves in it, ready for every run: the parsed requirement registry and shipped
profiles, the verifying TLS context every client shares, the SDK client that only decides retries,
and `inspect`'s table of module files (pytest's traceback of a failed test walks every loaded
module to fill it: ~2,000 modules, once per process). Each is what the run would build on first
use, the same way: nothing a run sees changes, it only stops paying for it per run. Importing
it anywhere else costs that time once.
"""

from __future__ import annotations

import inspect

from conformance.contract.profiles import load_profile, shipped_profiles
from conformance.contract.requirements import registry
from conformance.transport.deadline import shared_ssl_context
from conformance.transport.sdk import warm_deciding_sdk


def warm() -> None:
    registry()
    for profile in shipped_profiles():
        load_profile(profile)
    shared_ssl_context()
    warm_deciding_sdk()
    # A code object from no module's file: `getmodule` looks it up in every loaded module's file,
    # filling its cache (`inspect.modulesbyfile`) on the way.
    inspect.getmodule(compile("", "<gateway-conformance warm-up>", "exec"))


warm()
