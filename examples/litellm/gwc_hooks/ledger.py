"""The recorded costs, in their own module: LiteLLM loads config-named modules (`callbacks`,
`custom_auth`) by file path, so `billing.py` exists twice in the proxy (once file-loaded for the
callback, once imported by custom_auth for the routes). Both copies import this one normally and
so share one ledger.
"""

import threading

costs: "dict[str, float]" = {}
spend_by_alias: "dict[str, float]" = {}
lock = threading.Lock()
