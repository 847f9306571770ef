"""What the suite's two embedded servers share, below both of them.

The reference gateway (`conformance.reference`) and the fault-injecting provider
(`conformance.provider`) are independent servers: neither imports the other (import-linter's
`independence` contract). What both need lives here, and imports neither:

- `loopback`       bind loopback only, say `READY <url>` once serving, die at stdin EOF, write a
                   config atomically
- `command_line`   a start-up problem as one line on stderr and status 2 (`exit_status`)
- `supervisor`     `ServerProcess`: a loopback server as a child process (start, READY, stop)
- `provider_link`  how a gateway reaches the provider: `ProviderProcess` (started by module name),
                   `KEY_ENV`, the target config's `provider` section
- `faults`         the fault catalogue a model name picks (`gwc-fault/…`, `gwc-ok`)
- `fake_model`     deterministic OpenAI-shaped answers, their usage and price
- `request_params` inference request bodies → params, or `ParamError(param)`

Nothing is imported here so `python -m conformance.reference --help` stays instant.
"""
